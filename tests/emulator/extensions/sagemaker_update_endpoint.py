"""UpdateEndpoint, which moto 5.2.5 lacks.

AWS: `UpdateEndpoint(EndpointName, EndpointConfigName)` moves a live endpoint to another endpoint
configuration without taking it down; the endpoint goes `Updating` and then back to `InService` (or
`Failed`, with a `FailureReason`). The old configuration is left alone. The answer is
`{"EndpointArn": ...}`. An unknown endpoint or configuration is a `ValidationException`
("Could not find ...").

The emulator applies the change at once, so the endpoint reads `InService` on the new configuration
straight away. Remove this extension when moto gains UpdateEndpoint.
"""

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig
from moto.sagemaker.responses import SageMakerResponse

WRITTEN_FOR = "moto 5.2.5"


def install() -> None:
    def update_endpoint(self):
        backend = self.sagemaker_backend
        endpoint_name = self._get_param("EndpointName")
        config_name = self._get_param("EndpointConfigName")
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.current_account, self.region)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        config = backend.endpoint_configs.get(config_name)
        if config is None:
            arn = FakeEndpointConfig.arn_formatter(config_name, self.current_account, self.region)
            raise ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
        if endpoint.endpoint_status not in ("InService", "Failed"):
            raise ValidationError(
                message=f"Cannot update in-progress endpoint '{endpoint.arn}'."
            )
        described = config.response_object
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(
            described.get("ProductionVariants") or []
        )
        endpoint.data_capture_config = described.get("DataCaptureConfig")
        endpoint.endpoint_status = "InService"
        endpoint.failure_reason = None
        endpoint.last_modified_time = utcnow()
        return ActionResult({"EndpointArn": endpoint.arn})

    SageMakerResponse.update_endpoint = update_endpoint
