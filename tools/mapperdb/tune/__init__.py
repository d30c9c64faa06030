"""Server-parameter tuning for Azure Database for PostgreSQL Flexible Server.

``mapperdb tune`` prints what the infra stacks apply; both call :func:`parameters.tune`.
"""

from mapperdb.tune.cli import tune

__all__ = ["tune"]
