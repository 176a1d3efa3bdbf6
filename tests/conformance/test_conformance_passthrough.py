"""The one-endpoint mode hands every non-action request to ``ChatKitServer.process()`` and
passes its answer on byte for byte; chatkit's own failures become precise statuses."""

from __future__ import annotations

from typing import Any

import pytest
from chatkit import types as ck
from conformance_app import (
    ITEM,
    THREAD,
    action_request,
    check_model,
    check_stream,
    encode_request,
    shape,
    user_input,
)
from pydantic import TypeAdapter

from examples.bridge.store import MemoryChatKitStore

pytestmark = pytest.mark.anyio

THREAD_PAGE: TypeAdapter[Any] = TypeAdapter(ck.Page[ck.Thread])
ITEM_PAGE: TypeAdapter[Any] = TypeAdapter(ck.Page[ck.ThreadItem])
THREAD_RESPONSE: TypeAdapter[Any] = TypeAdapter(ck.Thread)


async def post(client: Any, request: Any) -> Any:
    return await client.post("/chatkit", content=encode_request(request))


async def test_threads_create_streams_the_server_answer_unchanged(client: Any, server: Any) -> None:
    request = ck.ThreadsCreateReq(params=ck.ThreadCreateParams(input=user_input("Hi")))
    response = await post(client, request)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == b"".join(server.sent)  # exactly what process() produced
    events = check_stream(response.content)
    assert shape(events) == [
        "thread.created",
        "thread.item.done",  # the user message
        "stream_options",
        "thread.item.added",
        "thread.item.updated/assistant_message.content_part.text_delta",
        "thread.item.updated/assistant_message.content_part.text_delta",
        "thread.item.done",  # the assistant message; respond()'s hidden context is swallowed
    ]
    assert events[-1]["item"]["content"][0]["text"] == "Hello there"


async def test_add_user_message_to_an_existing_thread(client: Any, server: Any) -> None:
    request = ck.ThreadsAddUserMessageReq(
        params=ck.ThreadAddUserMessageParams(thread_id=THREAD, input=user_input("Again"))
    )
    response = await post(client, request)
    assert response.content == b"".join(server.sent)
    assert shape(check_stream(response.content))[0] == "thread.item.done"


@pytest.mark.parametrize(
    ("request_", "adapter"),
    [
        (ck.ThreadsGetByIdReq(params=ck.ThreadGetByIdParams(thread_id=THREAD)), THREAD_RESPONSE),
        (ck.ThreadsListReq(params=ck.ThreadListParams()), THREAD_PAGE),
        (ck.ItemsListReq(params=ck.ItemsListParams(thread_id=THREAD)), ITEM_PAGE),
        (ck.ThreadsUpdateReq(params=ck.ThreadUpdateParams(thread_id=THREAD, title="New")), THREAD_RESPONSE),
    ],
    ids=["threads.get_by_id", "threads.list", "items.list", "threads.update"],
)
async def test_json_requests_pass_through_unchanged(
    client: Any, server: Any, request_: Any, adapter: Any
) -> None:
    response = await post(client, request_)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert server.sent == [response.content]
    check_model(adapter, response.content)


async def test_both_paths_share_the_server_store(client: Any) -> None:
    """A sync update on the fast path is what threads.get_by_id then serves."""
    response = await client.post("/chatkit", content=action_request("conf.bump", {"by": 3}, sync=True))
    assert response.status_code == 200
    await client.post("/chatkit", content=action_request("conf.hidden"))
    thread = (
        await post(client, ck.ThreadsGetByIdReq(params=ck.ThreadGetByIdParams(thread_id=THREAD)))
    ).json()
    items = thread["items"]["data"]
    assert [i["id"] for i in items] == [ITEM]  # the hidden context is stored but filtered by chatkit
    assert items[0]["widget"]["children"][0]["value"] == "3"


async def test_feedback_and_delete_answer_empty_objects(
    client: Any, chatkit_store: MemoryChatKitStore
) -> None:
    feedback = ck.ItemsFeedbackReq(
        params=ck.ItemFeedbackParams(thread_id=THREAD, item_ids=[ITEM], kind="positive")
    )
    assert (await post(client, feedback)).content == b"{}"
    delete = ck.ThreadsDeleteReq(params=ck.ThreadDeleteParams(thread_id=THREAD))
    assert (await post(client, delete)).content == b"{}"
    assert THREAD not in chatkit_store.threads


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            encode_request(ck.ThreadsGetByIdReq(params=ck.ThreadGetByIdParams(thread_id="thr_missing"))),
            404,
            "not_found",
        ),
        (
            encode_request(
                ck.ThreadsAddUserMessageReq(
                    params=ck.ThreadAddUserMessageParams(thread_id="thr_missing", input=user_input("?"))
                )
            ),
            404,
            "not_found",
        ),
        (b'{"type": "threads.get_by_id", "params": {}}', 400, "request.invalid"),
        (
            encode_request(
                ck.InputTranscribeReq(params=ck.InputTranscribeParams(audio_base64="", mime_type="audio/ogg"))
            ),
            501,
            "request.not_implemented",
        ),
        (
            encode_request(
                ck.AttachmentsCreateReq(
                    params=ck.AttachmentCreateParams(name="a.txt", size=1, mime_type="text/plain")
                )
            ),
            500,
            "server.error",
        ),
    ],
    ids=[
        "unknown thread",
        "unknown thread, streaming",
        "invalid params",
        "not implemented",
        "server failure",
    ],
)
async def test_server_failures_are_answered_with_a_status(
    client: Any, body: bytes, status: int, code: str
) -> None:
    """chatkit-python raises these out of process() (or mid-stream); no traceback reaches the client."""
    response = await client.post("/chatkit", content=body)
    assert response.status_code == status
    error = response.json()
    assert (error["type"], error["code"]) == ("error", code)
    assert "Traceback" not in response.text


class TimeOrderedStore(MemoryChatKitStore):
    """Items in ``created_at`` order, as the stores of OpenAI's ChatKit sample apps keep them."""

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Any:
        self.items[thread_id].sort(key=lambda item: item.created_at)  # raises on naive beside aware
        return await super().load_thread_items(thread_id, after, limit, order, context)


@pytest.mark.parametrize("mode_name", ["http", "bridge"])
async def test_items_the_framework_adds_sort_beside_chatkits_own(mode_name: str) -> None:
    """After a routed action adds items, ``items.list`` (what ChatKit.js loads a thread with) still works."""
    from conformance_app import BridgeMode, ConformanceServer, HTTPMode, make_app, seeded_store
    from litestar.testing import AsyncTestClient

    seeded = await seeded_store()
    store = TimeOrderedStore()
    store.threads, store.items = seeded.threads, seeded.items
    server = ConformanceServer(store)
    async with AsyncTestClient(make_app(server)) as client:
        mode = HTTPMode(client) if mode_name == "http" else BridgeMode(server)
        events = await mode.stream(action_request("conf.everything"))
        assert "error" not in shape(events)
        listed = await post(client, ck.ItemsListReq(params=ck.ItemsListParams(thread_id=THREAD)))
    assert listed.status_code == 200, listed.text
    page = check_model(ITEM_PAGE, listed.content)
    assert len(page["data"]) > 1
    assert all(
        "+" not in item["created_at"] and not item["created_at"].endswith("Z") for item in page["data"]
    )
