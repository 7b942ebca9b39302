"""UpdateEndpoint, which moto 5.2.5 lacks.

AWS: `UpdateEndpoint(EndpointName, EndpointConfigName)` moves a live endpoint to another endpoint
configuration without taking it down; the endpoint goes `Updating` and then back to `InService` (or
`Failed`, with a `FailureReason`). The old configuration is left alone. The answer is
`{"EndpointArn": ...}`. An unknown endpoint or configuration is a `ValidationException`
("Could not find ...").

The emulator applies the change at once, so the endpoint reads `InService` on the new configuration
straight away. Remove this extension when moto gains UpdateEndpoint.

Rollback, for tests: SageMaker can fail an update, roll it back and report the endpoint `InService`
on the OLD configuration with a `FailureReason` (terraform-provider-aws #39099). An endpoint
configuration tagged `palisade-emulator:update-rolls-back` makes an update to it end that way, with
the tag's value as the FailureReason; the configuration itself is created and described as usual.
"""

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig
from moto.sagemaker.responses import SageMakerResponse

WRITTEN_FOR = "moto 5.2.5"

# Tag of an endpoint configuration that an update cannot move to (its value is the FailureReason).
ROLLBACK_TAG = "palisade-emulator:update-rolls-back"


def rollback_reason(config) -> "str | None":
    """The FailureReason an update to `config` rolls back with, or None when it succeeds."""
    for tag in getattr(config, "tags", None) or []:
        if tag.get("Key") == ROLLBACK_TAG:
            return tag.get("Value") or "The update was rolled back."
    return None


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
        reason = rollback_reason(config)
        if reason is not None:
            # Rolled back: still serving the old configuration, InService, with the reason.
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = reason
            endpoint.last_modified_time = utcnow()
            return ActionResult({"EndpointArn": endpoint.arn})
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
