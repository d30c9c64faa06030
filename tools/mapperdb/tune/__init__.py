"""``mapperdb tune``: the server parameters of a Flexible Server SKU and workload.

Only the command lives here; the SKU table and the formulas are platform data
(:mod:`mapperdb.platform.parameters`), which the infra stacks apply too.
"""

from mapperdb.tune.cli import tune

__all__ = ["tune"]
