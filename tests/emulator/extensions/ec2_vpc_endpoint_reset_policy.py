"""ModifyVpcEndpoint's ResetPolicy, which moto 5.2.5 ignores.

AWS: `ResetPolicy=true` replaces the endpoint's policy with the default one, which allows full
access to the service. moto keeps the old policy, so a test of "removing the policy restores the
default" could not pass against it. Remove this extension when moto honours ResetPolicy.
"""

import json

from moto.ec2.models.vpcs import VPCEndPoint
from moto.ec2.responses.vpcs import VPCs

WRITTEN_FOR = "moto 5.2.5"


def install() -> None:
    original = VPCs.modify_vpc_endpoint

    def modify_vpc_endpoint(self):
        result = original(self)
        if str(self._get_param("ResetPolicy", "false")).lower() == "true":
            endpoint_id = self._get_param("VpcEndpointId")
            endpoint = self.ec2_backend.describe_vpc_endpoints(vpc_end_point_ids=[endpoint_id])[0]
            endpoint.policy_document = json.dumps(VPCEndPoint.DEFAULT_POLICY)
        return result

    VPCs.modify_vpc_endpoint = modify_vpc_endpoint
