"""CreateModel's EnableNetworkIsolation, which moto 5.2.5 ignores.

AWS: `CreateModel(EnableNetworkIsolation=true)` cuts the model's containers off from every network,
and DescribeModel reports `"EnableNetworkIsolation": true`. moto drops the parameter and always
describes `false`, so a model declared isolated would read back as drifted. This keeps the flag on
moto's own model object. Remove this extension when moto honours EnableNetworkIsolation.
"""

from moto.sagemaker.responses import SageMakerResponse

WRITTEN_FOR = "moto 5.2.5"


def install() -> None:
    original = SageMakerResponse.create_model

    def create_model(self):
        result = original(self)
        isolated = self._get_param("EnableNetworkIsolation")
        model = self.sagemaker_backend.describe_model(self._get_param("ModelName"))
        model.enable_network_isolation = str(isolated).lower() == "true"
        return result

    SageMakerResponse.create_model = create_model
