"""Errors: what handlers raise on purpose, and what the dispatcher answers with.

``ActionError`` is the one a handler author raises. ``DispatchError`` is how the
framework reports bad input (malformed JSON, unknown action, invalid payload,
missing thread...) before a handler runs: it carries the HTTP status, a stable
machine-readable ``code`` and a message meant for the developer reading it.
"""

from __future__ import annotations

__all__ = ["ActionError", "DispatchError", "LockTimeoutError", "NotFoundError", "RegistrationError"]


class ActionError(Exception):
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


class NotFoundError(Exception):
    """Raised by a store when a thread or item does not exist (or is not the caller's).

    The dispatcher answers 404 before any stream starts; a store that scopes
    threads per user raises this for another user's thread, so ids do not leak.
    """


class LockTimeoutError(Exception):
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


class RegistrationError(Exception):
    """A handler cannot be registered: duplicate type, bad signature, wrong mode."""


class DispatchError(Exception):
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
