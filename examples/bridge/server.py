"""A ChatKitServer as an app already has it, with its actions answered by the router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from chatkit.server import ChatKitServer, stream_widget
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTextContent,
)

from chatkit_handlers import ActionRouter
from chatkit_handlers.bridge import RoutedActions

from . import handlers
from .widgets import poll_card

router = ActionRouter()
router.include(handlers)


class PollServer(RoutedActions, ChatKitServer[Any]):
    """Answers every message with a poll about it; the poll's buttons are router handlers."""

    actions = router

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        question = "What do you think?"
        if input_user_message is not None:
            texts = [
                part.text for part in input_user_message.content if isinstance(part, UserMessageTextContent)
            ]
            question = " ".join(texts) or question
        # An assistant message streamed the way a model's answer is.
        reply = f"Let's vote on it: {question}"
        message = AssistantMessageItem(
            id=self.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[],
        )
        yield ThreadItemAddedEvent(item=message)
        part = AssistantMessageContentPartAdded(content_index=0, content=AssistantMessageContent(text=""))
        yield ThreadItemUpdatedEvent(item_id=message.id, update=part)
        for i, word in enumerate(reply.split(" ")):
            delta = AssistantMessageContentPartTextDelta(
                content_index=0, delta=word if i == 0 else f" {word}"
            )
            yield ThreadItemUpdatedEvent(item_id=message.id, update=delta)
        final = AssistantMessageContent(text=reply)
        yield ThreadItemUpdatedEvent(
            item_id=message.id, update=AssistantMessageContentPartDone(content_index=0, content=final)
        )
        yield ThreadItemDoneEvent(item=message.model_copy(update={"content": [final]}))
        # chatkit's own helper, next to router handlers that use ctx.stream_widget.
        async for event in stream_widget(thread, poll_card(question)):
            yield event
