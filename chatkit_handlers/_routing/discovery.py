"""Package discovery: ``router.include("myapp.actions")``.

The dotted name is imported; for a package, every module below it is imported
too, in sorted dotted-name order (the package itself first), so the resulting
route table never depends on the file system's listing order. What a module
contributes is the same as for ``router.include(module)``: the ``@on_action``
functions defined in it (not those it imports) and the module-level
``ActionRouter`` objects that no other router includes yet.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
from collections.abc import Callable
from typing import Any

from .._action.decorator import ActionSpec, specs_of
from ..errors import RegistrationError

__all__ = ["defined_handlers", "import_package", "module_objects"]


def _initializing(module: types.ModuleType) -> bool:
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _import(name: str, including: str) -> types.ModuleType:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        if name == including and exc.name is not None and including.startswith(exc.name):
            raise RegistrationError(f"include({including!r}): no module or package named {name!r}") from exc
        raise RegistrationError(f"include({including!r}): importing {name!r} failed: {exc}") from exc
    if _initializing(module):
        # The module is the one calling include() (directly or through its imports):
        # its handlers below the include() line do not exist yet.
        raise RegistrationError(
            f"include({including!r}) is a discovery cycle: module {name!r} is still being imported "
            "(it is, or imports, the module that calls include()). Call include() from a module "
            "outside the discovered package"
        )
    return module


def import_package(name: str) -> list[types.ModuleType]:
    """The module ``name`` and, for a package, every module below it, sorted by name."""
    root = _import(name, name)
    path = getattr(root, "__path__", None)
    if path is None:
        return [root]
    names: list[str] = []

    def failed(sub: str) -> None:  # walk_packages would otherwise skip a broken subpackage silently
        _import(sub, name)

    for info in pkgutil.walk_packages(path, prefix=f"{name}.", onerror=failed):
        names.append(info.name)
    return [root, *(_import(sub, name) for sub in sorted(set(names)))]


def defined_handlers(module: types.ModuleType) -> list[tuple[ActionSpec, Callable[..., Any]]]:
    """The ``@on_action`` functions defined in ``module`` (not imported into it), in definition order."""
    found: list[tuple[ActionSpec, Callable[..., Any]]] = []
    for value in list(vars(module).values()):
        if callable(value) and getattr(value, "__module__", None) == module.__name__:
            found.extend((spec, value) for spec in specs_of(value))
    return found


def module_objects(module: types.ModuleType, cls: type) -> list[Any]:
    """The module-level instances of ``cls`` in ``module``, each once, in definition order."""
    seen: set[int] = set()
    found = []
    for value in list(vars(module).values()):
        if isinstance(value, cls) and id(value) not in seen:
            seen.add(id(value))
            found.append(value)
    return found
