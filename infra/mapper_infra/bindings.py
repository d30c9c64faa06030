"""Load the azurerm bindings' package without importing its 1,500 submodules.

``cdktf_cdktf_provider_azurerm/__init__.py`` ends with one ``from . import <resource>`` per
resource type of the provider (about 1,530 of them), so its first import costs ~50 s of CPU on
this kind of machine, although the stacks use some 30 resource types. The Python side is the
cost (node waits on its stdin meanwhile): each generated submodule defines hundreds of classes.

:func:`install` puts a finder on ``sys.meta_path`` that loads that one package from its own
source minus those eager imports. Everything else the package's ``__init__`` does (its jsii
assembly load, its helpers) runs unchanged, and a submodule is imported when code imports it
(``from cdktf_cdktf_provider_azurerm.key_vault import KeyVault``), as Python always does for
submodules, or reads it as an attribute of the package (``azurerm.key_vault``). jsii registers
a class when its module is imported; the stacks import every resource type they construct, so
nothing the kernel hands back lacks its Python class (an object made on the Node side whose
class was never imported would fail loudly, "Unknown type"; no stack does that). The
synthesized JSON is the same byte for byte (bench/bindings_cost.py).

``MAPPER_INFRA_EAGER_BINDINGS=1`` turns this off (the package's own, eager import).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

PACKAGE = "cdktf_cdktf_provider_azurerm"
_EAGER_SUBMODULE = re.compile(r"^from \. import \w+[ \t]*$", re.MULTILINE)


class _TrimmedInitLoader(importlib.machinery.SourceFileLoader):
    """The package's own loader, compiling its ``__init__`` without the eager submodule lines."""

    def get_code(self, fullname: str) -> CodeType:
        source = self.get_data(self.path).decode("utf-8")
        trimmed, count = _EAGER_SUBMODULE.subn("", source)
        if count == 0:
            # A release that no longer imports eagerly (or changed its layout): its own code.
            code = super().get_code(fullname)
            if code is None:  # only for namespace packages, which this one is not
                raise ImportError(f"{PACKAGE} has no code at {self.path}", name=fullname)
            return code
        return compile(trimmed, self.path, "exec", dont_inherit=True)

    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        # The package publishes a new module object in sys.modules (jsii's ``publication``);
        # ``package.key_vault`` on it imports that submodule on first use, as if eager.
        public = sys.modules.get(module.__name__, module)
        names = frozenset(getattr(public, "__all__", ()))

        def __getattr__(name: str) -> ModuleType:  # noqa: N807 (PEP 562's name)
            if name in names:
                return importlib.import_module(f"{module.__name__}.{name}")
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

        public.__getattr__ = __getattr__  # type: ignore[method-assign]


class _LazyBindingsFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not spec.origin.endswith("__init__.py"):
            return spec
        loader = _TrimmedInitLoader(fullname, spec.origin)
        lazy = importlib.util.spec_from_file_location(
            fullname, spec.origin, loader=loader, submodule_search_locations=[]
        )
        if lazy is None or lazy.submodule_search_locations is None:
            return spec
        lazy.submodule_search_locations[:] = spec.submodule_search_locations or []
        return lazy


def install() -> None:
    """Idempotent; a no-op when the package was already imported (eagerly) in this process."""
    if os.environ.get("MAPPER_INFRA_EAGER_BINDINGS") == "1":
        return
    if not any(isinstance(finder, _LazyBindingsFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LazyBindingsFinder())
