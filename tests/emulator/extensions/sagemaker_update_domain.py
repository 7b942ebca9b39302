"""UpdateDomain, and AWS's rules for describing and deleting a Studio domain, which moto 5.2.5 lacks.

AWS: UpdateDomain changes a domain's default user settings (and a few other settings) in place;
the domain passes through Updating back to InService. DescribeDomain and DeleteDomain of a domain
that does not exist answer ResourceNotFound. DeleteDomain refuses a domain that still has user
profiles or spaces (ResourceInUse), takes a RetentionPolicy whose HomeEfsFileSystem is `Delete` or `Retain`
(default `Retain`), and the domain is Deleting until it is gone.

moto answers ValidationException for unknown domains, has no UpdateDomain, ignores the retention
policy and deletes at once. Transitional statuses are shown to exactly one Describe. Remove this
module when moto gains UpdateDomain and these rules.
"""

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError
from moto.sagemaker.responses import SageMakerResponse

WRITTEN_FOR = "moto 5.2.5"


def _domain(response, domain_id):
    domain = response.sagemaker_backend.domains.get(domain_id)
    if domain is None:
        raise ResourceNotFound(message=f"Domain {domain_id} does not exist")
    return domain


def install() -> None:
    from extensions.sagemaker_user_profiles import profiles

    def describe_domain(self):
        domain_id = self._get_param("DomainId")
        domain = _domain(self, domain_id)
        shown = domain.describe()
        settle_to = getattr(domain, "palisade_settle_to", "InService")
        if settle_to is None:
            del self.sagemaker_backend.domains[domain_id]
        else:
            domain.status = settle_to
        return ActionResult(shown)

    def update_domain(self):
        domain_id = self._get_param("DomainId")
        domain = _domain(self, domain_id)
        if domain.status not in ("InService", "Update_Failed"):
            raise ResourceInUseException(message=f"Domain {domain_id} is {domain.status}; it cannot be updated now")
        settings = self._get_param("DefaultUserSettings")
        if settings:
            domain.default_user_settings = {**(domain.default_user_settings or {}), **settings}
        subnets = self._get_param("SubnetIds")
        if subnets:
            domain.subnet_ids = subnets
        access = self._get_param("AppNetworkAccessType")
        if access:
            domain.app_network_access_type = access
        domain.status = "Updating"
        domain.palisade_settle_to = "InService"
        return ActionResult({"DomainArn": domain.arn})

    def delete_domain(self):
        domain_id = self._get_param("DomainId")
        domain = _domain(self, domain_id)
        retention = (self._get_param("RetentionPolicy") or {}).get("HomeEfsFileSystem", "Retain")
        if retention not in ("Delete", "Retain"):
            raise ValidationError(message=f"RetentionPolicy.HomeEfsFileSystem must be Delete or Retain, not {retention}")
        owned = [name for (d, name) in profiles(self.current_account, self.region) if d == domain_id]
        if owned:
            raise ResourceInUseException(
                message=f"Domain {domain_id} has user profiles ({', '.join(sorted(owned))}); delete them first"
            )
        from extensions.sagemaker_spaces import space_names

        held = space_names(self.current_account, self.region, domain_id)
        if held:
            raise ResourceInUseException(message=f"Domain {domain_id} has spaces ({', '.join(held)}); delete them first")
        domain.palisade_home_efs_retention = retention
        domain.status = "Deleting"
        domain.palisade_settle_to = None
        return EmptyResult()

    SageMakerResponse.describe_domain = describe_domain
    SageMakerResponse.update_domain = update_domain
    SageMakerResponse.delete_domain = delete_domain
