"""Every exception chatkit-handlers raises, all derived from ``ChatKitHandlersError``.

For handler authors: ``ActionError`` (raise it to show the user a message).
For store authors: ``NotFoundError``, ``LockTimeoutError`` and
``StoreUnavailableError``. For everyone:
``RegistrationError`` (a handler, router or adapter that cannot be set up,
raised when it is built, never on a request) and ``DispatchError`` (how the
framework refuses a request: an HTTP status, a stable ``code`` and a message
for the developer reading it). ``ActionTimeoutError`` is what a handler
running past its ``timeout=`` becomes. ``TemplateError`` is what a widget
template (``chatkit_handlers.templates``) raises for bad data or a broken template.

``except ChatKitHandlersError`` catches any of them.
"""

from __future__ import annotations

__all__ = [
    "ActionConfigError",
    "ActionError",
    "ActionTimeoutError",
    "ChatKitHandlersError",
    "DispatchError",
    "LockTimeoutError",
    "NotFoundError",
    "RegistrationError",
    "StoreUnavailableError",
    "TemplateError",
]


class ChatKitHandlersError(Exception):
    """The base of every exception this package raises."""


class ActionError(ChatKitHandlersError):
    """Raise in a handler to show ``message`` to the user.

    In a stream it becomes ``{"type": "error", "code": "custom", "message": ...}``;
    in a sync action a JSON error body with ``status_code`` (400 by default).

    >>> raise ActionError("The cart is empty", allow_retry=False)  # doctest: +SKIP
    """

    def __init__(self, message: str, *, allow_retry: bool = False, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.allow_retry = allow_retry
        self.status_code = status_code


class ActionConfigError(ChatKitHandlersError, ValueError):
    """A widget's action config cannot reach its handler: no such handler, an ambiguous type,
    or a payload that does not validate (``action_config``)."""


class ActionTimeoutError(ChatKitHandlersError, TimeoutError):
    """A handler ran longer than its ``timeout=``.

    By default a sync action answers 504 ``action.timeout`` and a stream ends
    with an ``error`` event of that code; ``router.on_error(ActionTimeoutError)``
    (or ``TimeoutError``) changes that.
    """

    def __init__(self, action_type: str, timeout: float) -> None:
        super().__init__(f"the handler for action {action_type!r} did not finish within {timeout:g} s")
        self.action_type = action_type
        self.timeout = timeout


class NotFoundError(ChatKitHandlersError):
    """Raised by a store when a thread or item does not exist (or is not the caller's).

    The dispatcher answers 404 before any stream starts; a store that scopes
    threads per user raises this for another user's thread, so ids do not leak.
    """


class LockTimeoutError(ChatKitHandlersError):
    """Raised by a store's ``lock()`` when another holder kept a key past the timeout.

    The dispatcher answers a sync action with 409 ``item.busy`` and a streaming
    action with an ``error`` event (code ``custom``, its message naming the busy
    thread or item; both ``allow_retry: true``).

    Attributes:
        key: the lock key that could not be taken.
        timeout: how long it was waited for, in seconds.
    """

    def __init__(self, key: tuple[str, ...], timeout: float | None) -> None:
        super().__init__(f"lock {key!r} is still held by another action after {timeout}s")
        self.key = key
        self.timeout = timeout


class StoreUnavailableError(ChatKitHandlersError):
    """Raised by a store that cannot be reached or used right now (down, busy past its timeout).

    The dispatcher answers ``503 store.unavailable`` with ``allow_retry: true``
    (an ``error`` event with that message once a stream started), whether it
    happened before or after the handler ran, and logs it once with its cause.
    Nothing the action would have written is written.
    """


class TemplateError(ChatKitHandlersError, ValueError):
    """A widget template cannot be read, its data does not match its ``jsonSchema``, or what
    it renders is not a widget (``chatkit_handlers.templates.WidgetTemplate``).

    The message names the template and says what is wrong; for data, each failing field
    with its path (``data.flights[2].price: 'x' is not of type 'number'``).

    Attributes:
        template: the template's ``name`` (empty when the document could not be read).
        errors: for data that does not match the schema, one ``path: message`` line per
            failing field; empty for other failures.
    """

    def __init__(self, message: str, *, template: str = "", errors: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.template = template
        self.errors = errors


class RegistrationError(ChatKitHandlersError, TypeError):
    """A handler, router or adapter cannot be set up: duplicate type, bad signature, wrong argument.

    Raised when the handler is decorated or registered, or the app is built;
    never while answering a request. (Also a ``TypeError``: most of these are
    arguments of the wrong kind.)
    """


class DispatchError(ChatKitHandlersError):
    """A request the framework refuses before (or instead of) running a handler.

    Attributes:
        status_code: the HTTP status to answer with (4xx for bad input).
        code: a stable identifier such as ``"payload.invalid"``.
        message: what happened, where, and what to do.
        allow_retry: whether the same request may succeed later (``True`` for
            ``item.busy``: another action on the widget was still running).
    """

    def __init__(self, status_code: int, code: str, message: str, *, allow_retry: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.allow_retry = allow_retry

    def __repr__(self) -> str:
        return f"DispatchError({self.status_code}, {self.code!r}, {self.message!r})"
