"""Put/Get/DeleteModelPackageGroupPolicy, which moto 5.2.5 lacks.

AWS: a model package group can carry a resource policy (an IAM policy document as a string) that
lets other accounts describe its packages and create models from them.
`PutModelPackageGroupPolicy(ModelPackageGroupName, ResourcePolicy)` answers
`{"ModelPackageGroupArn": ...}`; `GetModelPackageGroupPolicy(ModelPackageGroupName)` answers
`{"ResourcePolicy": ...}`; `DeleteModelPackageGroupPolicy(ModelPackageGroupName)` answers `{}`.
An unknown group, or a group without a policy on Get/Delete, is a `ValidationException`.

The policy is kept on moto's own group object, so it lives and dies with the group, per account and
region. It is stored, not enforced. Remove this extension when moto gains these operations.
"""

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse

WRITTEN_FOR = "moto 5.2.5"


def _group(response):
    name = response._get_param("ModelPackageGroupName") or ""
    # AWS accepts the group's name or ARN.
    name = name.split("/")[-1] if name.startswith("arn:") else name
    # Raises moto's ValidationException for an unknown group.
    return response.sagemaker_backend.describe_model_package_group(name)


def _no_policy(group):
    return ValidationError(
        message=f"Cannot find resource policy for ModelPackageGroup {group.arn}."
    )


def install() -> None:
    def put_model_package_group_policy(self):
        group = _group(self)
        policy = self._get_param("ResourcePolicy")
        if not policy:
            raise ValidationError(message="ResourcePolicy must not be empty.")
        group.resource_policy = policy
        return ActionResult({"ModelPackageGroupArn": group.arn})

    def get_model_package_group_policy(self):
        group = _group(self)
        policy = getattr(group, "resource_policy", None)
        if policy is None:
            raise _no_policy(group)
        return ActionResult({"ResourcePolicy": policy})

    def delete_model_package_group_policy(self):
        group = _group(self)
        if getattr(group, "resource_policy", None) is None:
            raise _no_policy(group)
        group.resource_policy = None
        return EmptyResult()

    SageMakerResponse.put_model_package_group_policy = put_model_package_group_policy
    SageMakerResponse.get_model_package_group_policy = get_model_package_group_policy
    SageMakerResponse.delete_model_package_group_policy = delete_model_package_group_policy
