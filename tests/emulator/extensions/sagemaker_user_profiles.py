"""SageMaker Studio user profiles, which moto 5.2.5 lacks.

AWS: CreateUserProfile, DescribeUserProfile, UpdateUserProfile, DeleteUserProfile and
ListUserProfiles manage the users of a Studio domain. A profile is created Pending and becomes
InService; an update passes through Updating; a delete passes through Deleting. AWS refuses to
delete a profile that still has apps that are not Deleted (ResourceInUse), and refuses to create
one in a domain that does not exist (ResourceNotFound). Tags of a profile are read and changed
with ListTags/AddTags/DeleteTags on its ARN.

moto has none of these operations; this module adds them with per-account, per-region state.
Each transitional status is shown to exactly one Describe, so that waits are exercised without
slowing tests. Remove this module when moto gains user profiles.
"""

from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.core.responses import ActionResult, EmptyResult

WRITTEN_FOR = "moto 5.2.5"

# (account, region) -> (domain id, profile name) -> UserProfile
_PROFILES: dict = {}


class UserProfile:
    def __init__(self, account: str, region: str, domain_id: str, name: str, settings, tags):
        self.domain_id = domain_id
        self.name = name
        self.arn = f"arn:aws:sagemaker:{region}:{account}:user-profile/{domain_id}/{name}"
        self.settings = settings or {}
        self.tags = list(tags or [])
        self.status = "Pending"
        self.settle_to = "InService"
        self.home_efs_uid = str(200000 + sum(map(ord, name)))
        self.created = utcnow()
        self.modified = self.created

    def describe(self) -> dict:
        return {
            "DomainId": self.domain_id,
            "UserProfileArn": self.arn,
            "UserProfileName": self.name,
            "HomeEfsFileSystemUid": self.home_efs_uid,
            "Status": self.status,
            "LastModifiedTime": self.modified,
            "CreationTime": self.created,
            "UserSettings": self.settings,
        }

    def summary(self) -> dict:
        return {
            "DomainId": self.domain_id,
            "UserProfileName": self.name,
            "Status": self.status,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
        }


def profiles(account: str, region: str) -> dict:
    """The profiles of one account and region (also used by the app and domain extensions)."""
    return _PROFILES.setdefault((account, region), {})


def _look(store: dict, key) -> "UserProfile | None":
    """One Describe's view: a transitional status is seen once, then the profile settles."""
    profile = store.get(key)
    if profile is None:
        return None
    shown = profile.describe()
    if profile.settle_to is None:
        del store[key]
    else:
        profile.status = profile.settle_to
    return shown


def install() -> None:
    original_resource_from_arn = SageMakerModelBackend._get_resource_from_arn

    def _get_resource_from_arn(self, arn: str):
        resource = arn.split(":", 5)[-1]
        if resource.startswith("user-profile/"):
            _, domain_id, name = resource.split("/", 2)
            profile = profiles(self.account_id, self.region_name).get((domain_id, name))
            if profile is None:
                raise ValidationError(message=f"Could not find user profile {arn}")
            return profile
        return original_resource_from_arn(self, arn)

    def create_user_profile(self):
        domain_id = self._get_param("DomainId")
        name = self._get_param("UserProfileName")
        if domain_id not in self.sagemaker_backend.domains:
            raise ResourceNotFound(message=f"Domain {domain_id} does not exist")
        store = profiles(self.current_account, self.region)
        if (domain_id, name) in store:
            raise ResourceInUseException(message=f"Resource Already Exists: UserProfile with name {name} already exists")
        profile = UserProfile(
            self.current_account, self.region, domain_id, name, self._get_param("UserSettings"), self._get_param("Tags")
        )
        store[(domain_id, name)] = profile
        return ActionResult({"UserProfileArn": profile.arn})

    def describe_user_profile(self):
        domain_id = self._get_param("DomainId")
        name = self._get_param("UserProfileName")
        shown = _look(profiles(self.current_account, self.region), (domain_id, name))
        if shown is None:
            raise ResourceNotFound(message=f"User profile {name} of domain {domain_id} does not exist")
        return ActionResult(shown)

    def update_user_profile(self):
        domain_id = self._get_param("DomainId")
        name = self._get_param("UserProfileName")
        profile = profiles(self.current_account, self.region).get((domain_id, name))
        if profile is None:
            raise ResourceNotFound(message=f"User profile {name} of domain {domain_id} does not exist")
        if profile.status not in ("InService", "Update_Failed"):
            raise ResourceInUseException(message=f"User profile {name} is {profile.status}; it cannot be updated now")
        # AWS changes the settings given and keeps the others.
        profile.settings = {**profile.settings, **(self._get_param("UserSettings") or {})}
        profile.status = "Updating"
        profile.settle_to = "InService"
        profile.modified = utcnow()
        return ActionResult({"UserProfileArn": profile.arn})

    def delete_user_profile(self):
        from extensions.sagemaker_apps import live_apps_of_profile

        domain_id = self._get_param("DomainId")
        name = self._get_param("UserProfileName")
        profile = profiles(self.current_account, self.region).get((domain_id, name))
        if profile is None:
            raise ResourceNotFound(message=f"User profile {name} of domain {domain_id} does not exist")
        apps = live_apps_of_profile(self.current_account, self.region, domain_id, name)
        if apps:
            listed = ", ".join(f"{a.app_type} {a.name} ({a.status})" for a in apps)
            raise ResourceInUseException(message=f"User profile {name} has apps that are not deleted: {listed}")
        from extensions.sagemaker_spaces import space_names

        owned = space_names(self.current_account, self.region, domain_id, owner=name)
        if owned:
            raise ResourceInUseException(message=f"User profile {name} owns spaces ({', '.join(owned)}); delete them first")
        profile.status = "Deleting"
        profile.settle_to = None
        return EmptyResult()

    def list_user_profiles(self):
        domain_id = self._get_param("DomainIdEquals")
        contains = self._get_param("UserProfileNameContains")
        found = [
            p.summary()
            for p in profiles(self.current_account, self.region).values()
            if (not domain_id or p.domain_id == domain_id) and (not contains or contains in p.name)
        ]
        return ActionResult({"UserProfiles": found})

    SageMakerModelBackend._get_resource_from_arn = _get_resource_from_arn
    SageMakerResponse.create_user_profile = create_user_profile
    SageMakerResponse.describe_user_profile = describe_user_profile
    SageMakerResponse.update_user_profile = update_user_profile
    SageMakerResponse.delete_user_profile = delete_user_profile
    SageMakerResponse.list_user_profiles = list_user_profiles
