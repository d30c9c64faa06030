"""The CDKTF app: one stack per environment for Azure Database for PostgreSQL Flexible Server.

Importing :mod:`mapper_infra.app` loads the azurerm bindings (~10 s, ~1 GB); keep that to one
import per process and build every environment's stack in the same App.
"""
