"""Creates of a SageMaker name already in use, which moto 5.2.5 answers by overwriting.

AWS: CreateModel, CreateEndpointConfig and CreateModelPackageGroup of a name that exists in the
account and region fail with `ValidationException` ("Cannot create already existing model ...",
"... endpoint configuration ...", "Model Package Group already exists ..."), and leave the existing
resource untouched. moto 5.2.5 silently replaces the existing one, which would hide a duplicate
create. This extension refuses as AWS does. Remove it when moto refuses duplicate names.
"""

from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse

WRITTEN_FOR = "moto 5.2.5"

# action -> (request parameter, backend store, how AWS names the resource in the message)
_STORES = {
    "create_model": ("ModelName", "_models", "Cannot create already existing model \"{arn}\"."),
    "create_endpoint_config": (
        "EndpointConfigName",
        "endpoint_configs",
        "Cannot create already existing endpoint configuration \"{arn}\".",
    ),
    "create_model_package_group": (
        "ModelPackageGroupName",
        "model_package_groups",
        "Model Package Group already exists: {arn}",
    ),
}


def _refusing_duplicates(action: str, original):
    parameter, store, message = _STORES[action]

    def create(self):
        name = self._get_param(parameter)
        existing = getattr(self.sagemaker_backend, store).get(name)
        if existing is not None:
            arn = getattr(existing, "arn", None) or name
            raise ValidationError(message=message.format(arn=arn))
        return original(self)

    return create


def install() -> None:
    for action in _STORES:
        setattr(SageMakerResponse, action, _refusing_duplicates(action, getattr(SageMakerResponse, action)))
