"""SageMaker Studio apps of user profiles, which moto 5.2.5 lacks.

AWS: CreateApp starts an app (JupyterServer, KernelGateway, ...) for a user profile (or a space);
DeleteApp moves it to Deleting and then Deleted, and Deleted apps stay listed for a while.
DescribeApp and ListApps (filtered by domain, user profile or space) report the status. A profile
cannot be deleted while it has apps that are not Deleted.

moto has none of these; this module adds them, per account and region. A deleted app shows
Deleting to exactly one look (Describe or List) and is Deleted afterwards, so that waits are
exercised. Remove this module when moto gains Studio apps.
"""

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound
from moto.sagemaker.responses import SageMakerResponse

WRITTEN_FOR = "moto 5.2.5"

# (account, region) -> (domain id, owner, app type, app name) -> App; owner is the profile or space
_APPS: dict = {}


class App:
    def __init__(self, account, region, domain_id, profile, space, app_type, name, resource_spec, tags):
        self.domain_id = domain_id
        self.profile = profile
        self.space = space
        self.app_type = app_type
        self.name = name
        owner = profile or space
        self.arn = f"arn:aws:sagemaker:{region}:{account}:app/{domain_id}/{owner}/{app_type.lower()}/{name}"
        self.resource_spec = resource_spec or {}
        self.tags = list(tags or [])
        self.status = "InService"
        self.created = utcnow()

    def look(self) -> dict:
        shown = {
            "DomainId": self.domain_id,
            "AppType": self.app_type,
            "AppName": self.name,
            "Status": self.status,
            "CreationTime": self.created,
            "ResourceSpec": self.resource_spec,
        }
        if self.profile:
            shown["UserProfileName"] = self.profile
        if self.space:
            shown["SpaceName"] = self.space
        if self.status == "Deleting":
            self.status = "Deleted"
        return shown


def _apps(account: str, region: str) -> dict:
    return _APPS.setdefault((account, region), {})


def live_apps_of_profile(account: str, region: str, domain_id: str, profile: str) -> list:
    """The apps of a profile that are not Deleted (what blocks the profile's delete)."""
    return [
        a
        for a in _apps(account, region).values()
        if a.domain_id == domain_id and a.profile == profile and a.status != "Deleted"
    ]


def _key(response):
    owner = response._get_param("UserProfileName") or response._get_param("SpaceName")
    return (response._get_param("DomainId"), owner, response._get_param("AppType"), response._get_param("AppName"))


def install() -> None:
    from extensions.sagemaker_user_profiles import profiles

    def create_app(self):
        domain_id = self._get_param("DomainId")
        profile = self._get_param("UserProfileName")
        if profile and (domain_id, profile) not in profiles(self.current_account, self.region):
            raise ResourceNotFound(message=f"User profile {profile} of domain {domain_id} does not exist")
        store = _apps(self.current_account, self.region)
        key = _key(self)
        if key in store and store[key].status != "Deleted":
            raise ResourceInUseException(message=f"App {key[3]} of type {key[2]} already exists")
        app = App(
            self.current_account,
            self.region,
            domain_id,
            profile,
            self._get_param("SpaceName"),
            self._get_param("AppType"),
            self._get_param("AppName"),
            self._get_param("ResourceSpec"),
            self._get_param("Tags"),
        )
        store[key] = app
        return ActionResult({"AppArn": app.arn})

    def describe_app(self):
        app = _apps(self.current_account, self.region).get(_key(self))
        if app is None:
            raise ResourceNotFound(message="App does not exist")
        shown = app.look()
        shown["AppArn"] = app.arn
        return ActionResult(shown)

    def delete_app(self):
        app = _apps(self.current_account, self.region).get(_key(self))
        if app is None or app.status == "Deleted":
            raise ResourceNotFound(message="App does not exist")
        app.status = "Deleting"
        return EmptyResult()

    def list_apps(self):
        domain_id = self._get_param("DomainIdEquals")
        profile = self._get_param("UserProfileNameEquals")
        space = self._get_param("SpaceNameEquals")
        found = [
            a.look()
            for a in _apps(self.current_account, self.region).values()
            if (not domain_id or a.domain_id == domain_id)
            and (not profile or a.profile == profile)
            and (not space or a.space == space)
        ]
        return ActionResult({"Apps": found})

    SageMakerResponse.create_app = create_app
    SageMakerResponse.describe_app = describe_app
    SageMakerResponse.delete_app = delete_app
    SageMakerResponse.list_apps = list_apps
