"""SageMaker Studio spaces, which moto 5.2.5 lacks.

AWS: CreateSpace makes a space in a domain, owned by a user profile (OwnershipSettings) and
private or shared (SpaceSharingSettings); DescribeSpace, ListSpaces and DeleteSpace manage it.
A delete passes through Deleting. AWS refuses to delete a space that still has apps that are not
Deleted, and to delete a user profile or a domain that still owns spaces (ResourceInUse; the
user profile and domain extensions ask `space_names` here).

moto has none of these; this module adds them, per account and region. A deleting space shows Deleting to exactly one Describe or List. Remove this
module when moto gains Studio spaces.
"""

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound
from moto.sagemaker.responses import SageMakerResponse

WRITTEN_FOR = "moto 5.2.5"

# (account, region) -> (domain id, space name) -> Space
_SPACES: dict = {}


class Space:
    def __init__(self, account, region, domain_id, name, owner, sharing, tags):
        self.domain_id = domain_id
        self.name = name
        self.owner = owner
        self.sharing = sharing or "Private"
        self.arn = f"arn:aws:sagemaker:{region}:{account}:space/{domain_id}/{name}"
        self.tags = list(tags or [])
        self.status = "InService"
        self.gone_after_look = False
        self.created = utcnow()

    def summary(self) -> dict:
        shown = {
            "DomainId": self.domain_id,
            "SpaceName": self.name,
            "Status": self.status,
            "CreationTime": self.created,
            "LastModifiedTime": self.created,
            "SpaceSharingSettingsSummary": {"SharingType": self.sharing},
        }
        if self.owner:
            shown["OwnershipSettingsSummary"] = {"OwnerUserProfileName": self.owner}
        return shown


def spaces(account: str, region: str) -> dict:
    return _SPACES.setdefault((account, region), {})


def space_names(account: str, region: str, domain_id: str, owner: "str | None" = None) -> list:
    """Names of the spaces of a domain (owned by `owner`, if given) that still exist."""
    return sorted(
        s.name for s in spaces(account, region).values() if s.domain_id == domain_id and (owner is None or s.owner == owner)
    )


def _look(store: dict, key):
    space = store.get(key)
    if space is None:
        return None
    shown = space.summary()
    if space.gone_after_look:
        del store[key]
    return shown


def install() -> None:
    from extensions.sagemaker_apps import _apps
    from extensions.sagemaker_user_profiles import profiles

    def create_space(self):
        domain_id = self._get_param("DomainId")
        name = self._get_param("SpaceName")
        if domain_id not in self.sagemaker_backend.domains:
            raise ResourceNotFound(message=f"Domain {domain_id} does not exist")
        owner = (self._get_param("OwnershipSettings") or {}).get("OwnerUserProfileName")
        if owner and (domain_id, owner) not in profiles(self.current_account, self.region):
            raise ResourceNotFound(message=f"User profile {owner} of domain {domain_id} does not exist")
        store = spaces(self.current_account, self.region)
        if (domain_id, name) in store:
            raise ResourceInUseException(message=f"Resource Already Exists: Space with name {name} already exists")
        sharing = (self._get_param("SpaceSharingSettings") or {}).get("SharingType")
        space = Space(self.current_account, self.region, domain_id, name, owner, sharing, self._get_param("Tags"))
        store[(domain_id, name)] = space
        return ActionResult({"SpaceArn": space.arn})

    def describe_space(self):
        key = (self._get_param("DomainId"), self._get_param("SpaceName"))
        store = spaces(self.current_account, self.region)
        space = store.get(key)
        shown = _look(store, key)
        if shown is None:
            raise ResourceNotFound(message=f"Space {key[1]} of domain {key[0]} does not exist")
        shown["SpaceArn"] = space.arn
        return ActionResult(shown)

    def delete_space(self):
        domain_id, name = self._get_param("DomainId"), self._get_param("SpaceName")
        space = spaces(self.current_account, self.region).get((domain_id, name))
        if space is None:
            raise ResourceNotFound(message=f"Space {name} of domain {domain_id} does not exist")
        live = [
            a
            for a in _apps(self.current_account, self.region).values()
            if a.domain_id == domain_id and a.space == name and a.status != "Deleted"
        ]
        if live:
            listed = ", ".join(f"{a.app_type} {a.name} ({a.status})" for a in live)
            raise ResourceInUseException(message=f"Space {name} has apps that are not deleted: {listed}")
        space.status = "Deleting"
        space.gone_after_look = True
        return EmptyResult()

    def list_spaces(self):
        domain_id = self._get_param("DomainIdEquals")
        contains = self._get_param("SpaceNameContains")
        store = spaces(self.current_account, self.region)
        found = [
            _look(store, key)
            for key, s in list(store.items())
            if (not domain_id or s.domain_id == domain_id) and (not contains or contains in s.name)
        ]
        return ActionResult({"Spaces": found})

    SageMakerResponse.create_space = create_space
    SageMakerResponse.describe_space = describe_space
    SageMakerResponse.delete_space = delete_space
    SageMakerResponse.list_spaces = list_spaces
