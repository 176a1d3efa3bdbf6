"""What each audience imports: handler authors from the root, integrators from named modules, errors from one place."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import chatkit_handlers
import chatkit_handlers.dispatch
import chatkit_handlers.errors
from chatkit_handlers import on_action
from chatkit_handlers.errors import ChatKitHandlersError, RegistrationError


def test_the_root_exports_what_a_handler_author_writes() -> None:
    assert set(chatkit_handlers.__all__) == {
        "ActionContext",
        "ActionError",
        "ActionRouter",
        "RequestView",
        "action_config",
        "as_widget_root",
        "on_action",
    }
    for internal in ("Dispatcher", "DispatchResult", "Route", "ActionSpec", "NotFoundError"):
        assert not hasattr(chatkit_handlers, internal), internal


def test_integrators_find_the_dispatch_core_in_one_module() -> None:
    for name in chatkit_handlers.dispatch.__all__:
        assert getattr(chatkit_handlers.dispatch, name) is not None
    assert {"Dispatcher", "DispatchResult", "Route", "RequestView", "read_body"} <= set(
        chatkit_handlers.dispatch.__all__
    )


def test_every_exception_derives_from_one_base_and_lives_in_errors() -> None:
    exceptions = [
        value
        for value in vars(chatkit_handlers.errors).values()
        if inspect.isclass(value) and issubclass(value, BaseException)
    ]
    assert len(exceptions) == len(chatkit_handlers.errors.__all__)
    for exc in exceptions:
        assert issubclass(exc, ChatKitHandlersError), exc
        assert exc.__module__ == "chatkit_handlers.errors"


@pytest.mark.parametrize(
    "arguments",
    [
        {"type": ""},
        {"type": "x", "timeout": -1},
        {"type": "x", "guards": "not a list"},
        {"type": "cart.*.bad*"},
    ],
)
def test_decorator_argument_errors_are_registration_errors(arguments: dict[str, object]) -> None:
    action_type = arguments.pop("type")
    with pytest.raises(RegistrationError):
        on_action(action_type, **arguments)  # type: ignore[arg-type]


def test_registration_errors_are_still_type_errors() -> None:
    """Code that caught TypeError from on_action() keeps working."""
    with pytest.raises(TypeError):
        on_action("")


ROOT = Path(__file__).resolve().parents[1]

PUBLIC_MODULES = [
    "chatkit_handlers",
    "chatkit_handlers.asgi",
    "chatkit_handlers.bridge",
    "chatkit_handlers.dispatch",
    "chatkit_handlers.errors",
    "chatkit_handlers.litestar",
    "chatkit_handlers.observability",
    "chatkit_handlers.observability.metrics",
    "chatkit_handlers.observability.tracing",
    "chatkit_handlers.stores",
    "chatkit_handlers.templates",
    "chatkit_handlers.testing",
    "chatkit_handlers.types",
]
"""The modules users import from; each has a page under docs/reference/."""

_DIRECTIVE = re.compile(r"^::: *(?P<target>[\w.]+) *$")


def documented_names() -> set[str]:
    """What the reference pages render: ``module.Name`` for each ``::: module.Name``
    directive and for each name in the ``members:`` of a ``::: module`` directive."""
    import yaml  # mkdocs' own dependency, installed with the dev extra

    names: set[str] = set()
    for page in sorted((ROOT / "docs" / "reference").glob("*.md")):
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            directive = _DIRECTIVE.match(line)
            if directive is None:
                continue
            target = directive["target"]
            options = []
            for following in lines[i + 1 :]:
                if following.strip() and not following.startswith(" "):
                    break
                options.append(following)
            members = ((yaml.safe_load("\n".join(options)) or {}).get("options") or {}).get("members")
            if target in PUBLIC_MODULES:
                assert isinstance(members, list), (
                    f"{page.relative_to(ROOT)}: `::: {target}` lists no `members:`; list the names it documents"
                )
                names.update(f"{target}.{member}" for member in members)
            else:
                names.add(target)
    return names


def test_every_public_module_is_listed() -> None:
    """A new public module (no leading underscore) needs a reference page too."""
    import chatkit_handlers

    submodules = {
        f"chatkit_handlers.{module.name}"
        for module in pkgutil.iter_modules(chatkit_handlers.__path__)
        if not module.name.startswith("_")
    }
    unlisted = sorted(submodules - set(PUBLIC_MODULES))
    assert not unlisted, (
        f"public modules without a docs/reference page: {unlisted} (add them to PUBLIC_MODULES)"
    )
    nested = set(PUBLIC_MODULES) - submodules - {"chatkit_handlers"}
    assert all(name.rpartition(".")[0] in submodules for name in nested)  # e.g. observability.metrics


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_is_in_the_reference(module_name: str) -> None:
    module = importlib.import_module(module_name)
    documented = documented_names()
    missing = [name for name in module.__all__ if f"{module_name}.{name}" not in documented]
    assert not missing, (
        f"{module_name}.__all__ has names no docs/reference page documents: {missing}; "
        f"add them to the `members:` of `::: {module_name}`"
    )
    stale = sorted(
        name.removeprefix(f"{module_name}.")
        for name in documented
        if name.rpartition(".")[0] == module_name and name.rpartition(".")[2] not in module.__all__
    )
    assert not stale, f"docs/reference documents names {module_name}.__all__ no longer has: {stale}"
