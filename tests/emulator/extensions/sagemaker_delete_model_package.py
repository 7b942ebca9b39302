"""DeleteModelPackage and DeleteModelPackageGroup, which moto 5.2.5 lacks.

AWS: `DeleteModelPackage(ModelPackageName)` takes the package's name or ARN (a versioned package is
named by its ARN) and answers `{}`; `DeleteModelPackageGroup(ModelPackageGroupName)` answers `{}` and
refuses a group that still holds packages. Unknown names are a `ValidationException`.

State is moto's own dicts of the calling account and region. Remove this extension when moto gains
these operations.
"""

from moto.core.responses import EmptyResult
from moto.sagemaker.exceptions import ConflictException, ValidationError
from moto.sagemaker.responses import SageMakerResponse

WRITTEN_FOR = "moto 5.2.5"


def install() -> None:
    def delete_model_package(self):
        backend = self.sagemaker_backend
        name = self._get_param("ModelPackageName")
        arn = backend.model_package_name_mapping.get(name, name)
        package = backend.model_packages.pop(arn, None)
        if package is None:
            raise ValidationError(message=f"Model package {name} does not exist.")
        for key in [k for k, v in backend.model_package_name_mapping.items() if v == arn]:
            del backend.model_package_name_mapping[key]
        return EmptyResult()

    def delete_model_package_group(self):
        backend = self.sagemaker_backend
        name = self._get_param("ModelPackageGroupName") or ""
        name = name.split("/")[-1] if name.startswith("arn:") else name
        group = backend.describe_model_package_group(name)
        if any(p.model_package_group_name == name for p in backend.model_packages.values()):
            raise ConflictException(
                f"Model Package Group {group.arn} still holds model packages; delete them first."
            )
        del backend.model_package_groups[name]
        return EmptyResult()

    SageMakerResponse.delete_model_package = delete_model_package
    SageMakerResponse.delete_model_package_group = delete_model_package_group
