"""Reading an action's Server-Sent Events stream back into event Structs.

The parser is as strict as the wire contract: every event is exactly
``data: <json>\\n\\n`` and decodes into one of chatkit's stream events. Anything
else is a bug in the endpoint, so it fails the test with the offending frame.
"""

from __future__ import annotations

import msgspec

from ..types import ThreadStreamEvent

__all__ = ["SSEParser"]

_event_decoder: msgspec.json.Decoder[ThreadStreamEvent] = msgspec.json.Decoder(ThreadStreamEvent)
_PREFIX = b"data: "


class SSEParser:
    """Incremental parser: ``feed`` bytes as they arrive, get whole events back."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[ThreadStreamEvent]:
        """The events completed by ``chunk`` (possibly none)."""
        self._buffer += chunk
        events: list[ThreadStreamEvent] = []
        while (end := self._buffer.find(b"\n\n")) != -1:
            frame = bytes(self._buffer[:end])
            del self._buffer[: end + 2]
            events.append(_decode_frame(frame))
        return events

    def close(self) -> None:
        """Check that the stream did not end in the middle of an event."""
        if self._buffer:
            raise AssertionError(f"the stream ended inside an event: {bytes(self._buffer)!r}")


def _decode_frame(frame: bytes) -> ThreadStreamEvent:
    # JSON never contains a raw newline, so one frame is exactly one line.
    if not frame.startswith(_PREFIX) or b"\n" in frame:
        raise AssertionError(f"not a ChatKit SSE frame (expected b'data: <json>'): {frame!r}")
    try:
        return _event_decoder.decode(frame[len(_PREFIX) :])
    except msgspec.ValidationError as exc:
        raise AssertionError(f"the stream carried an invalid event ({exc}): {frame!r}") from None
    except msgspec.DecodeError as exc:
        raise AssertionError(f"the stream carried malformed JSON ({exc}): {frame!r}") from None
