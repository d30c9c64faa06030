"""The azurerm bindings load only the resource types the stacks use (mapper_infra.bindings).

That the stacks synthesize the same through them is shown by every synth in this suite (the
cdktf CLI test synthesizes from scratch through ``infra/main.py``) and, against the package's
own eager import, by ``bench/bindings_cost.py`` (byte-identical output, compared each run).
"""

from __future__ import annotations

import os
import subprocess
import sys

from mapper_infra.bindings import PACKAGE

COUNT = "import sys\n{setup}\nprint(len([m for m in sys.modules if m.startswith('{package}.')]))\n"


def _run(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_the_app_imports_a_few_resource_modules_not_all_of_them() -> None:
    setup = (
        "import mapper_infra.app\n"
        f"from {PACKAGE}.kusto_cluster import KustoCluster  # not used by the stacks\n"
        "assert KustoCluster.__module__ == '" + PACKAGE + ".kusto_cluster'\n"
        f"import {PACKAGE} as azurerm\n"
        "assert azurerm.kusto_database.KustoDatabase  # an attribute of the package, imported\n"
        "assert not hasattr(azurerm, 'no_such_resource')"
    )
    loaded = int(_run(COUNT.format(setup=setup, package=PACKAGE)))
    # The stacks use ~30 resource types (+ a few shared modules); the package has ~1,530.
    assert 20 < loaded < 120, loaded


def test_the_finder_is_off_when_asked_and_touches_nothing_else() -> None:
    code = (
        "import sys, mapper_infra\n"
        "from mapper_infra.bindings import _LazyBindingsFinder\n"
        "print(any(isinstance(f, _LazyBindingsFinder) for f in sys.meta_path))\n"
        "print(_LazyBindingsFinder().find_spec('json', None))\n"
        f"print({PACKAGE!r} in sys.modules)"
    )
    assert _run(code).splitlines() == ["True", "None", "False"]
    assert _run(code, MAPPER_INFRA_EAGER_BINDINGS="1").splitlines() == ["False", "None", "False"]
