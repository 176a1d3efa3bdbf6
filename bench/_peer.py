"""What the benches' openai-chatkit peers share (``bench/_apps.py``, ``bench/_peer_sqlite.py``).

Imported only by the benches that run a peer: it needs ``openai-chatkit``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chatkit import types as ck
from chatkit.logger import logger
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.store import Store
from pydantic import TypeAdapter

__all__ = ["CounterServer", "CounterStore", "FairProcess"]

_requests: TypeAdapter[Any] = TypeAdapter(ck.ChatKitReq)


class CounterStore(Store[Any]):
    """A chatkit ``Store`` whose subclasses define what the counter's actions use; the rest raises."""

    async def load_thread_items(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def save_attachment(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def load_attachment(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def delete_attachment(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def load_threads(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def delete_thread(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError


class CounterServer(ChatKitServer[Any]):
    """A chatkit server for widget actions only: no user messages."""

    async def respond(self, thread: Any, input_user_message: Any, context: Any) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield


class FairProcess(ChatKitServer[Any]):
    """``process()`` exactly as shipped, except that the request adapter is built once (the *fair* peer)."""

    async def process(self, request: Any, context: Any) -> Any:
        parsed_request = _requests.validate_json(request)
        logger.info(f"Received request op: {parsed_request.type}")
        if ck.is_streaming_req(parsed_request):
            return StreamingResult(self._process_streaming(parsed_request, context))
        return NonStreamingResult(await self._process_non_streaming(parsed_request, context))
