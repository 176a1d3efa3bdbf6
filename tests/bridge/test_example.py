"""The bridge example: a ChatKitServer with RoutedActions, mounted in one-endpoint mode."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from chatkit import types as ck
from chatkit.actions import Action
from chatkit.server import NonStreamingResult, StreamingResult
from litestar.testing import AsyncTestClient

from examples.bridge.app import app, server

pytestmark = pytest.mark.anyio


def events_of(raw: bytes) -> list[dict[str, Any]]:
    return [msgspec.json.decode(block[6:]) for block in raw.split(b"\n\n") if block]


def action(kind: type[Any], thread_id: str, item_id: str, action_type: str, payload: Any = None) -> bytes:
    params = ck.ThreadCustomActionParams(
        thread_id=thread_id, item_id=item_id, action=Action[str, Any](type=action_type, payload=payload)
    )
    return kind(params=params).model_dump_json(exclude_none=True).encode()


async def test_poll_over_http_and_through_the_server() -> None:
    async with AsyncTestClient(app) as client:
        # A message goes to the ChatKitServer: it answers with a streamed message and a poll.
        create = ck.ThreadsCreateReq(
            params=ck.ThreadCreateParams(
                input=ck.UserMessageInput(
                    content=[ck.UserMessageTextContent(text="Tea?")],
                    attachments=[],
                    inference_options=ck.InferenceOptions(),
                )
            )
        )
        response = await client.post("/chatkit", content=create.model_dump_json())
        events = events_of(response.content)
        thread_id = events[0]["thread"]["id"]
        poll = next(
            e["item"] for e in events if e["type"] == "thread.item.done" and e["item"]["type"] == "widget"
        )

        # A vote over HTTP takes the router's fast path...
        body = action(ck.ThreadsSyncCustomActionReq, thread_id, poll["id"], "poll.vote", {"choice": "yes"})
        voted = (await client.post("/chatkit", content=body)).json()["updated_item"]["widget"]
        assert voted["children"][1]["children"][1]["value"] == "1"

        # ...and the same handler answers ChatKitServer.process() (any framework, FastAPI included).
        body = action(ck.ThreadsSyncCustomActionReq, thread_id, poll["id"], "poll.vote", {"choice": "no"})
        result = await server.process(body, None)
        assert isinstance(result, NonStreamingResult)
        assert (
            msgspec.json.decode(result.json)["updated_item"]["widget"]["children"][1]["children"][3]["value"]
            == "1"
        )

        result = await server.process(
            action(ck.ThreadsCustomActionReq, thread_id, poll["id"], "poll.close"), None
        )
        assert isinstance(result, StreamingResult)
        closed = events_of(b"".join([chunk async for chunk in result]))
        deltas = [
            e["update"]["delta"]
            for e in closed
            if e.get("update", {}).get("type", "").endswith("value_delta")
        ]
        assert "".join(deltas).startswith(" is a tie")

        # Both paths saved into the server's store: the thread as threads.get_by_id serves it.
        get = ck.ThreadsGetByIdReq(params=ck.ThreadGetByIdParams(thread_id=thread_id))
        thread = (await client.post("/chatkit", content=get.model_dump_json())).json()
    assert thread["title"] == "Poll: Tea?"
    widgets = [i["widget"] for i in thread["items"]["data"] if i["type"] == "widget"]
    assert widgets[0]["children"][2] == {
        "type": "Text",
        "value": "This poll is closed.",
        "color": "secondary",
    }
    assert widgets[1]["children"][0]["value"] == "It is a tie: 1 for, 1 against."
