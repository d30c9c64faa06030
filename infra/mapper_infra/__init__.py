"""The CDKTF app: one stack per environment for Azure Database for PostgreSQL Flexible Server.

Importing :mod:`mapper_infra.app` loads the azurerm bindings (~1 GB with node); keep that to one
import per process and build every environment's stack in the same App. Importing this package
installs :mod:`mapper_infra.bindings` (no import of its own): the bindings' package then loads
only the resource types the stacks use.
"""

from mapper_infra import bindings

bindings.install()
