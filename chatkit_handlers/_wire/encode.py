"""The bytes of an answer: JSON error bodies and Server-Sent Event frames.

Framing follows chatkit exactly: every event is ``data: <json>\\n\\n`` with no
``event:``/``id:`` lines and no end marker. An error body has the shape of a
ChatKit ``error`` event, so that a client reads a refused request and a failed
stream alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import msgspec

from ..types import ErrorEvent, StreamOptions, StreamOptionsEvent

__all__ = [
    "CHATKIT_ERROR_CODES",
    "STREAM_OPTIONS",
    "STREAM_OPTIONS_NO_CANCEL",
    "client_error",
    "encode",
    "error_body",
    "frame",
]

encode = msgspec.json.Encoder().encode
"""msgspec's JSON encoder, built once."""

CHATKIT_ERROR_CODES = frozenset({"custom", "stream.error"})
"""The only ``code`` values chatkit's ``ErrorEvent`` (and so its client) accepts."""


def error_body(code: str, message: str, *, allow_retry: bool = False) -> bytes:
    """The JSON body of an error answer: the same shape as a stream ``error`` event."""
    return encode(ErrorEvent(code=code, message=message, allow_retry=allow_retry))


def client_error(event: ErrorEvent) -> ErrorEvent:
    """``event`` as a stream may carry it: a precise code becomes ``custom``.

    Our own codes (``thread.busy``, ``action.forbidden``...) are kept for JSON
    error bodies, but chatkit's ``ErrorEvent`` accepts only ``custom`` and
    ``stream.error``, so in a stream they travel as ``custom`` with the message.
    """
    if event.code in CHATKIT_ERROR_CODES:
        return event
    return ErrorEvent(code="custom", message=event.message or event.code, allow_retry=event.allow_retry)


def frame(event: msgspec.Struct) -> bytes:
    """One Server-Sent Event: ``data: <json>\\n\\n``."""
    if type(event) is ErrorEvent:
        event = client_error(event)
    return b"".join((b"data: ", encode(event), b"\n\n"))


STREAM_OPTIONS = frame(StreamOptionsEvent(stream_options=StreamOptions(allow_cancel=True)))
"""The first frame of a stream the user may stop: ``stream_options`` with ``allow_cancel: true``."""
STREAM_OPTIONS_NO_CANCEL = frame(StreamOptionsEvent(stream_options=StreamOptions(allow_cancel=False)))
"""The first frame of a stream the user may not stop (``allow_cancel: false``)."""
STREAM_OPENINGS: Mapping[bool, bytes] = MappingProxyType(
    {True: STREAM_OPTIONS, False: STREAM_OPTIONS_NO_CANCEL}
)
"""The first frame of a stream, by whether the user may stop it."""
