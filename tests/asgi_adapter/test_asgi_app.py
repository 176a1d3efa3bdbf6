"""``ChatKitApp`` mounted in FastAPI and Starlette: the same wire, errors, limits and streams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from _stores_support import action, count_of, events, serve
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from chatkit_handlers import ActionContext, ActionRouter, RequestView
from chatkit_handlers.asgi import ChatKitApp
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.types import ThreadMetadata, WidgetItem
from examples.counter import handlers
from examples.counter.widgets import counter_card

THREAD, ITEM = "thr_1", "wid_1"


def make_router() -> ActionRouter:
    router = ActionRouter()
    router.include(handlers)

    @router.on_action("who.sync", streaming=False)
    async def who(ctx: ActionContext[Any], request: RequestView) -> None:
        from chatkit_handlers.errors import ActionError

        raise ActionError(f"{ctx.context}|{request.method}|{request.headers.get('x-user')}", status_code=418)

    return router


async def seeded(owner: Any = None) -> MemoryStore:
    store = MemoryStore(owner=owner)
    await store.save_thread(ThreadMetadata(id=THREAD), context="ann")
    await store.add_thread_item(
        THREAD, WidgetItem(id=ITEM, thread_id=THREAD, widget=counter_card(0)), context="ann"
    )
    return store


def fastapi_route(chatkit: ChatKitApp) -> FastAPI:
    app = FastAPI()
    app.add_route("/chatkit", chatkit)
    return app


def fastapi_mount(chatkit: ChatKitApp) -> FastAPI:
    app = FastAPI()
    app.mount("/chatkit", chatkit)  # answers /chatkit/; the test client follows the redirect to it
    return app


def starlette_route(chatkit: ChatKitApp) -> Starlette:
    return Starlette(routes=[Route("/chatkit", chatkit)])


def starlette_mount(chatkit: ChatKitApp) -> Starlette:
    return Starlette(routes=[Mount("/chatkit", app=chatkit)])


FRAMEWORKS = [fastapi_route, fastapi_mount, starlette_route, starlette_mount]


@pytest.fixture(
    params=FRAMEWORKS, ids=["fastapi-route", "fastapi-mount", "starlette-route", "starlette-mount"]
)
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    import anyio

    store = anyio.run(seeded, lambda user: user)
    chatkit = ChatKitApp(
        make_router(), store=store, context=lambda request: request.headers.get("x-user"), max_body_size=4096
    )
    with TestClient(request.param(chatkit)) as test_client:
        yield test_client


def click(by: int = 1) -> bytes:
    return action("sync", "counter.increment", thread=THREAD, item=ITEM, payload={"by": by})


def test_sync_and_streaming_actions_answer_as_over_litestar(client: TestClient) -> None:
    clicked = client.post("/chatkit", content=click(2), headers={"x-user": "ann"})
    assert clicked.status_code == 200, clicked.text
    assert clicked.headers["content-type"] == "application/json"
    assert count_of(clicked.json()["updated_item"]) == 2
    streamed = client.post(
        "/chatkit",
        content=action("stream", "counter.reset", thread=THREAD, item=ITEM),
        headers={"x-user": "ann"},
    )
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    got = events(streamed.content)
    assert got[0]["type"] == "stream_options"
    assert "thread.item.updated" in [e["type"] for e in got]


def test_errors_limits_and_methods_are_the_documented_ones(client: TestClient) -> None:
    assert client.get("/chatkit").status_code == 405
    assert client.post("/chatkit", content=b"x" * 5000).status_code == 413
    invalid = client.post(
        "/chatkit",
        content=action("sync", "counter.increment", thread=THREAD, item=ITEM, payload={"by": "two"}),
        headers={"x-user": "ann"},
    )
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "payload.invalid"
    assert client.post("/chatkit", content=b'{"type":{}}').status_code == 400
    stranger = client.post("/chatkit", content=click(), headers={"x-user": "bob"})
    assert stranger.status_code == 404  # another user's thread does not exist for bob


def test_the_context_and_handlers_get_the_request_view(client: TestClient) -> None:
    answer = client.post(
        "/chatkit", content=action("sync", "who.sync", thread=THREAD, item=ITEM), headers={"x-user": "ann"}
    )
    assert answer.status_code == 418
    assert answer.json()["message"] == "ann|POST|ann"


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.anyio
async def test_a_real_uvicorn_process_serves_the_fastapi_example(tmp_path: Path) -> None:
    with serve(
        {"CHATKIT_SQLITE_PATH": str(tmp_path / "fastapi.sqlite3")},
        log=tmp_path / "fastapi.log",
        app="examples.fastapi.app:app",
        app_dir=REPO,
    ) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.get("/health")).json() == {"status": "ok"}
            body = action(
                "sync", "counter.increment", thread="thr_demo", item="wid_counter", payload={"by": 3}
            )
            clicked = await http.post("/chatkit", content=body)
            assert clicked.status_code == 200, clicked.text
            assert count_of(clicked.json()["updated_item"]) == 3
            reset = action("stream", "counter.reset", thread="thr_demo", item="wid_counter")
            async with http.stream("POST", "/chatkit", content=reset) as streamed:
                raw = b"".join([chunk async for chunk in streamed.aiter_bytes()])
            assert "thread.item.updated" in [e["type"] for e in events(raw)]
            again = msgspec.json.decode((await http.post("/chatkit", content=body)).content)
            assert count_of(again["updated_item"]) == 3  # reset to 0, then +3: persisted
