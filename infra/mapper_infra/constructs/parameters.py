"""Parameters: the tuned and checked server parameters (mapperdb.tune) applied to one server."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdktf_cdktf_provider_azurerm.postgresql_flexible_server_configuration import (
    PostgresqlFlexibleServerConfiguration,
)
from constructs import Construct

from mapperdb.platform.parameters import Parameter


@dataclass(frozen=True)
class ParametersProps:
    server_id: str
    parameters: tuple[Parameter, ...]


class ServerParameters(Construct):
    def __init__(self, scope: Construct, id_: str, props: ParametersProps) -> None:
        super().__init__(scope, id_)
        for parameter in props.parameters:
            config = PostgresqlFlexibleServerConfiguration(
                self,
                re.sub(r"[^a-z0-9]+", "-", parameter.name),
                name=parameter.name,
                server_id=props.server_id,
                value=parameter.value,
            )
            # The reason travels with the value into the synthesized JSON, for reviewers of the
            # plan and for the tests; Terraform ignores the "//" comment key.
            config.add_override("//.reason", parameter.reason)
