"""What each audience imports: handler authors from the root, integrators from named modules, errors from one place."""

from __future__ import annotations

import inspect

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
