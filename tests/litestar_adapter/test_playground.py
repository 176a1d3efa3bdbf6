"""The widget playground's server side: off unless enabled, its page and files, its JSON API.

The API goes through the endpoint's context, guards and middleware, and the store's owner
scoping; its errors have the endpoint's JSON shape. What the page does in a browser is
tested in ``tests/playground/``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.logging import LoggingConfig
from litestar.middleware.logging import LoggingMiddlewareConfig
from litestar.testing import AsyncTestClient

from chatkit_handlers import ActionRouter, on_action
from chatkit_handlers.errors import RegistrationError, StoreUnavailableError, TemplateError
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.litestar._playground import app as playground_app
from chatkit_handlers.stores import MemoryStore, Store
from chatkit_handlers.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    HiddenContextItem,
    Page,
    ThreadMetadata,
    WidgetItem,
)

pytestmark = pytest.mark.anyio

PLAYGROUND = "/chatkit/playground"
API = PLAYGROUND + "/api"


@on_action("pg.ping", streaming=False)
async def ping(sender: WidgetItem) -> dict[str, Any]:
    return {"type": "Card", "children": [{"type": "Text", "value": "pong"}]}


def button(action: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Card", "children": [{"type": "Button", "label": "Go", "onClickAction": action}]}


def user_of(request: Request[Any, Any, Any]) -> str:
    """The request's user, from a header: a stand-in for real authentication."""
    return request.headers.get("x-user", "nobody")


def make_app(store: Store | None = None, **options: Any) -> Litestar:
    router = ActionRouter()
    router.add(ping)
    options.setdefault("playground", True)
    plugin = ChatKitPlugin(
        router, store=store or MemoryStore(owner=lambda user: user), context=user_of, **options
    )
    return Litestar(plugins=[plugin])


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(make_app()) as test_client:
        yield test_client


def as_user(name: str) -> dict[str, str]:
    return {"x-user": name}


# --------------------------------------------------------------------------- on and off


async def test_the_playground_is_off_unless_enabled() -> None:
    async with AsyncTestClient(make_app(playground=False)) as client:
        for path in (PLAYGROUND, f"{PLAYGROUND}/static/app.js", f"{API}/threads"):
            assert (await client.get(path)).status_code == 404
        assert (await client.post(f"{API}/threads", json={"widget": {"type": "Card"}})).status_code == 404


@pytest.mark.parametrize(
    ("endpoint", "playground", "expected"),
    [
        ("/chatkit", True, "/chatkit/playground"),
        ("/api/chatkit/", True, "/api/chatkit/playground"),
        ("/chatkit", "/dev/widgets/", "/dev/widgets"),
        ("/chatkit", False, None),
    ],
)
def test_where_the_playground_is_served(endpoint: str, playground: bool | str, expected: str | None) -> None:
    plugin = ChatKitPlugin(ActionRouter(), store=MemoryStore(), path=endpoint, playground=playground)
    assert plugin.playground == expected


@pytest.mark.parametrize("playground", ["dev", "/", "/chatkit/", 1])
def test_a_playground_path_that_cannot_be_is_refused_when_the_plugin_is_built(playground: Any) -> None:
    with pytest.raises(RegistrationError, match="playground="):
        ChatKitPlugin(ActionRouter(), store=MemoryStore(), playground=playground)


async def test_a_path_of_ones_own() -> None:
    async with AsyncTestClient(make_app(playground="/dev/widgets")) as client:
        page = await client.get("/dev/widgets")
        assert page.status_code == 200
        assert 'data-base="/dev/widgets"' in page.text
        assert 'data-endpoint="/chatkit"' in page.text
        assert (await client.get(PLAYGROUND)).status_code == 404


# --------------------------------------------------------------------------- the page and its files


async def test_the_page_names_its_files_and_the_endpoint_and_forbids_the_rest(
    client: AsyncTestClient[Litestar],
) -> None:
    for path in (PLAYGROUND, PLAYGROUND + "/"):
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert f'src="{PLAYGROUND}/static/app.js"' in page.text
        assert 'data-endpoint="/chatkit"' in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "default-src 'none'" in policy
        assert "connect-src 'self'" in policy
        assert page.headers["cache-control"] == "no-store"


async def test_the_page_escapes_the_paths_it_is_given() -> None:
    async with AsyncTestClient(make_app(path='/chat"kit<', playground="/pg")) as client:
        page = await client.get("/pg")
        assert 'data-endpoint="/chat&quot;kit&lt;"' in page.text


async def test_the_page_is_found_behind_a_root_path() -> None:
    async with AsyncTestClient(make_app(), root_path="/app") as client:
        page = await client.get(PLAYGROUND)
        assert 'data-base="/app/chatkit/playground"' in page.text
        assert 'data-endpoint="/app/chatkit"' in page.text


@pytest.mark.parametrize("name", sorted(playground_app._FILES))
async def test_every_file_of_the_page_is_served_with_its_type(
    client: AsyncTestClient[Litestar], name: str
) -> None:
    response = await client.get(f"{PLAYGROUND}/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == playground_app._FILES[name]
    assert response.content  # shipped in the package
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_nothing_else_is_served(client: AsyncTestClient[Litestar]) -> None:
    for path in ("/static/app.py", "/static/../app.py", "/static/", "/index.html", "/api", "/api/nothing"):
        response = await client.get(PLAYGROUND + path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "request.not_found"
        assert response.json()["message"].startswith("the playground has nothing at '/chatkit/playground")


async def test_a_wrong_method_is_refused_with_the_endpoints_error_shape(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.post(PLAYGROUND, content=b"{}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json() == {
        "type": "error",
        "code": "request.method",
        "message": "use GET",
        "allow_retry": False,
    }
    response = await client.delete(f"{API}/threads")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")
    assert (await client.put(f"{API}/threads/thr_1")).status_code == 405


def test_a_websocket_is_turned_away() -> None:
    from litestar.testing import TestClient
    from litestar.testing.websocket_test_session import WebSocketDisconnect

    with (
        TestClient(make_app()) as client,
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(PLAYGROUND) as socket,
    ):
        socket.receive_text()
    assert closed.value.code == 1003


def test_the_page_ships_in_the_wheel() -> None:
    """Hatch puts every file under the package into the wheel: nothing to build at install time."""
    files = playground_app._package_files()
    assert set(files) == {"index.html", *playground_app._FILES}
    gallery = msgspec.json.decode(files["gallery.json"])
    assert gallery[0]["name"] == "Every component"


# --------------------------------------------------------------------------- threads and items


async def seed(store: Store, user: str, thread_id: str, *items: Any, title: str = "Title") -> None:
    thread = ThreadMetadata(id=thread_id, title=title, metadata={"secret": "server-side"})
    await store.save_thread(thread, context=user)
    for item in items:
        await store.add_thread_item(thread_id, item, context=user)


async def test_each_user_lists_only_their_threads_without_their_metadata() -> None:
    store = MemoryStore(owner=lambda user: user)
    await seed(store, "ada", "thr_ada_1")
    await seed(store, "bob", "thr_bob")
    await seed(store, "ada", "thr_ada_2")
    async with AsyncTestClient(make_app(store)) as client:
        page = (await client.get(f"{API}/threads", headers=as_user("ada"))).json()
        assert [thread["id"] for thread in page["data"]] == ["thr_ada_2", "thr_ada_1"]  # newest first
        assert "metadata" not in page["data"][0]
        assert page["has_more"] is False
        page = (await client.get(f"{API}/threads", headers=as_user("bob"))).json()
        assert [thread["id"] for thread in page["data"]] == ["thr_bob"]
        assert (await client.get(f"{API}/threads", headers=as_user("eve"))).json()["data"] == []


async def test_threads_are_paged() -> None:
    store = MemoryStore(owner=lambda user: user)
    for n in range(3):
        await seed(store, "ada", f"thr_{n}")
    async with AsyncTestClient(make_app(store)) as client:
        first = (await client.get(f"{API}/threads?order=asc&limit=2", headers=as_user("ada"))).json()
        assert ([t["id"] for t in first["data"]], first["has_more"]) == (["thr_0", "thr_1"], True)
        rest = await client.get(
            f"{API}/threads?order=asc&limit=2&after={first['after']}", headers=as_user("ada")
        )
        assert ([t["id"] for t in rest.json()["data"]], rest.json()["has_more"]) == (["thr_2"], False)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("order=sideways", "order must be 'asc' or 'desc', got 'sideways'"),
        ("limit=0", "limit must be a whole number from 1 to 100, got '0'"),
        ("limit=101", "limit must be a whole number from 1 to 100, got '101'"),
        ("limit=-1", "limit must be a whole number from 1 to 100, got '-1'"),
    ],
)
async def test_a_bad_listing_query_is_refused(
    client: AsyncTestClient[Litestar], query: str, message: str
) -> None:
    response = await client.get(f"{API}/threads?{query}")
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "code": "request.invalid",
        "message": message,
        "allow_retry": False,
    }


async def test_a_thread_comes_with_its_items_in_order_hidden_context_included() -> None:
    store = MemoryStore(owner=lambda user: user)
    items = [
        WidgetItem(id="wid_1", thread_id="thr_1", widget=button({"type": "pg.ping", "streaming": False})),
        AssistantMessageItem(id="msg_1", thread_id="thr_1", content=[AssistantMessageContent(text="Hi <b>")]),
        HiddenContextItem(id="hcx_1", thread_id="thr_1", content="the user clicked"),
        WidgetItem(id="wid_2", thread_id="thr_1", widget=button({"type": "pg.nope"})),
    ]
    await seed(store, "ada", "thr_1", *items)
    async with AsyncTestClient(make_app(store)) as client:
        response = await client.get(f"{API}/threads/thr_1", headers=as_user("ada"))
        assert response.status_code == 200
        detail = response.json()
    assert detail["thread"]["id"] == "thr_1"
    assert "metadata" not in detail["thread"]
    assert [item["id"] for item in detail["items"]] == ["wid_1", "msg_1", "hcx_1", "wid_2"]
    assert detail["items"][2] == msgspec.to_builtins(items[2])
    assert detail["has_more"] is False
    # what the router would refuse, per widget: wid_1 is answered, wid_2 is not
    assert list(detail["problems"]) == ["wid_2"]
    assert "$.children[0].onClickAction" in detail["problems"]["wid_2"][0]
    assert "pg.nope" in detail["problems"]["wid_2"][0]


async def test_another_users_thread_is_not_found() -> None:
    store = MemoryStore(owner=lambda user: user)
    await seed(store, "ada", "thr_1")
    async with AsyncTestClient(make_app(store)) as client:
        for user in ("bob", "nobody"):
            response = await client.get(f"{API}/threads/thr_1", headers=as_user(user))
            assert response.status_code == 404
            assert response.json()["code"] == "thread.not_found"
        assert (await client.get(f"{API}/threads/thr_1", headers=as_user("ada"))).status_code == 200


async def test_a_long_thread_is_cut_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(playground_app, "MAX_ITEMS", 3)
    store = MemoryStore()
    await store.save_thread(ThreadMetadata(id="thr_1"), context=None)
    for n in range(5):
        await store.add_thread_item(
            "thr_1", HiddenContextItem(id=f"hcx_{n}", thread_id="thr_1", content=n), context=None
        )
    async with AsyncTestClient(make_app(store)) as client:
        detail = (await client.get(f"{API}/threads/thr_1")).json()
    assert [item["id"] for item in detail["items"]] == ["hcx_0", "hcx_1", "hcx_2"]
    assert detail["has_more"] is True


async def test_with_a_server_nothing_is_said_to_be_refused() -> None:
    """In the one-endpoint mode an action the router lacks may be the ChatKitServer's own."""
    from examples.bridge.server import PollServer
    from examples.bridge.store import MemoryChatKitStore

    server = PollServer(store=MemoryChatKitStore())
    app = Litestar(plugins=[ChatKitPlugin(ActionRouter(), server=server, playground=True)])
    async with AsyncTestClient(app) as client:
        created = await client.post(f"{API}/threads", json={"widget": button({"type": "poll.unknown"})})
        assert created.status_code == 201
        thread_id = created.json()["thread"]["id"]
        detail = (await client.get(f"{API}/threads/{thread_id}")).json()
        assert detail["problems"] == {}
        assert [item["type"] for item in detail["items"]] == ["widget"]


# --------------------------------------------------------------------------- try a widget


async def test_a_widget_to_try_gets_a_thread_of_its_own_owned_by_its_author() -> None:
    store = MemoryStore(owner=lambda user: user)
    widget = button({"type": "pg.ping", "streaming": False})
    async with AsyncTestClient(make_app(store)) as client:
        response = await client.post(f"{API}/threads", json={"widget": widget}, headers=as_user("ada"))
        assert response.status_code == 201
        created = response.json()
        thread_id, item_id = created["thread"]["id"], created["item"]["id"]
        assert thread_id.startswith("thr_")
        assert created["thread"]["title"] == "Playground: Card"
        assert created["item"]["widget"] == widget
        # the real endpoint answers the widget's action, in the thread just made
        action = {
            "type": "threads.sync_custom_action",
            "params": {"thread_id": thread_id, "item_id": item_id, "action": {"type": "pg.ping"}},
        }
        answer = await client.post("/chatkit", json=action, headers=as_user("ada"))
        assert answer.json()["updated_item"]["widget"]["children"][0]["value"] == "pong"
        assert (await client.post("/chatkit", json=action, headers=as_user("bob"))).status_code == 404
        titled = await client.post(
            f"{API}/threads", json={"widget": widget, "title": "Mine"}, headers=as_user("ada")
        )
        assert titled.json()["thread"]["title"] == "Mine"
    assert [t.id for t in (await store.load_threads(10, None, "asc", context="ada")).data] == [
        thread_id,
        titled.json()["thread"]["id"],
    ]
    assert (await store.load_threads(10, None, "asc", context="bob")).data == []


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"{", 400, "request.malformed", "the widget to try: Input data was truncated"),
        (b"[]", 400, "request.invalid", "the widget to try: Expected `object`, got `array`"),
        (
            b'{"widget": 1}',
            400,
            "request.invalid",
            "the widget to try: Expected `object`, got `int` - at `$.widget`",
        ),
        (
            b'{"widget": {}, "x": 1}',
            400,
            "request.invalid",
            "the widget to try: Object contains unknown field `x`",
        ),
        (
            b'{"widget": {"type": "Text", "value": "hi"}}',
            400,
            "request.invalid",
            "a widget's root must be a Card, ListView or Basic, not 'Text'; wrap it in one",
        ),
        (
            b'{"widget": {}}',
            400,
            "request.invalid",
            "a widget's root must be a Card, ListView or Basic, not None; wrap it in one",
        ),
    ],
)
async def test_a_widget_that_cannot_be_tried_is_refused(
    client: AsyncTestClient[Litestar], body: bytes, status: int, code: str, message: str
) -> None:
    response = await client.post(f"{API}/threads", content=body)
    assert response.status_code == status
    assert response.json() == {"type": "error", "code": code, "message": message, "allow_retry": False}
    assert (await client.get(f"{API}/threads")).json()["data"] == []  # nothing was made


async def test_a_widget_larger_than_the_endpoint_takes_is_refused() -> None:
    async with AsyncTestClient(make_app(max_body_size=100)) as client:
        widget = {"type": "Card", "children": [{"type": "Text", "value": "x" * 200}]}
        response = await client.post(f"{API}/threads", json={"widget": widget})
        assert response.status_code == 413
        assert response.json()["code"] == "request.too_large"


# --------------------------------------------------------------------------- the endpoint's guards, middleware and store


def ada_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.headers.get("x-user") != "ada":
        raise NotAuthorizedException("ada only")


async def test_the_endpoints_guards_keep_the_playground_too() -> None:
    async with AsyncTestClient(make_app(guards=[ada_only])) as client:
        for path in (PLAYGROUND, f"{PLAYGROUND}/static/app.js", f"{API}/threads"):
            assert (await client.get(path)).status_code == 401, path
            assert (await client.get(path, headers=as_user("ada"))).status_code == 200, path
        refused = await client.post(f"{API}/threads", json={"widget": {"type": "Card"}})
        assert refused.status_code == 401


async def test_the_endpoints_middleware_wraps_the_playground() -> None:
    seen: list[str] = []

    def note(app: Any) -> Any:
        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["path"])
            await app(scope, receive, send)

        return middleware

    async with AsyncTestClient(make_app(middleware=[note])) as client:
        await client.get(f"{API}/threads")
    assert seen == ["/api/threads/"]


async def test_a_middleware_that_reads_the_body_first_leaves_it_to_the_playground() -> None:
    """Litestar's LoggingMiddleware reads the body to log it (the structlog plugin adds it)."""
    router = ActionRouter()
    plugin = ChatKitPlugin(router, store=MemoryStore(), playground=True)
    logging_middleware = LoggingMiddlewareConfig(request_log_fields=["path", "body"]).middleware
    app = Litestar(plugins=[plugin], middleware=[logging_middleware], logging_config=LoggingConfig())
    async with AsyncTestClient(app) as client:
        created = await client.post(f"{API}/threads", json={"widget": {"type": "Card", "children": []}})
        assert created.status_code == 201
        listed = (await client.get(f"{API}/threads")).json()["data"]
    assert [thread["id"] for thread in listed] == [created.json()["thread"]["id"]]


async def test_an_async_context_factory_is_awaited() -> None:
    store = MemoryStore(owner=lambda user: user)

    async def context(request: Request[Any, Any, Any]) -> str:
        return request.headers.get("x-user", "nobody")

    router = ActionRouter()
    app = Litestar(plugins=[ChatKitPlugin(router, store=store, context=context, playground=True)])
    async with AsyncTestClient(app) as client:
        response = await client.post(
            f"{API}/threads", json={"widget": {"type": "Basic"}}, headers=as_user("ada")
        )
        thread_id = response.json()["thread"]["id"]
    assert (await store.load_thread(thread_id, context="ada")).title == "Playground: Basic"


class DownStore(MemoryStore):
    async def load_threads(self, *args: Any, **kwargs: Any) -> Page[ThreadMetadata]:
        raise StoreUnavailableError("the database is down")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_store_that_is_down_is_answered_503_and_logged() -> None:
    collect = Collect()
    ours = logging.getLogger("chatkit_handlers")
    async with AsyncTestClient(make_app(DownStore())) as client:
        ours.addHandler(collect)
        try:
            response = await client.get(f"{API}/threads")
        finally:
            ours.removeHandler(collect)
    assert response.status_code == 503
    assert response.json() == {
        "type": "error",
        "code": "store.unavailable",
        "message": "the store is unavailable right now; try again",
        "allow_retry": True,
    }
    assert [str(record.exc_info[1]) for record in collect.records if record.exc_info] == [
        "the database is down"
    ]


# --------------------------------------------------------------------------- the app's widget templates

WIDGETS = Path(__file__).resolve().parent.parent / "templates" / "widgets"
"""Builder-style ``.widget`` files: ``flights`` and ``order``, each with sample data."""

BADGE = {
    "version": "1.0",
    "name": "badge",
    "template": '{"type": "Card", "children": [{"type": "Badge", "label": {{ label | tojson }}}]}',
    "jsonSchema": {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]},
}


async def test_the_apps_templates_are_listed_with_their_sample_data() -> None:
    from chatkit_handlers.templates import WidgetTemplate

    app = make_app(playground_templates=[WIDGETS, WidgetTemplate(BADGE)])
    async with AsyncTestClient(app) as client:
        listed = (await client.get(f"{API}/templates")).json()["data"]
    assert [(t["name"], t["file"]) for t in listed] == [
        ("flights", "flights.widget"),
        ("order", "order.widget"),
        ("badge", None),
    ]
    assert listed[0]["sample_data"] == WidgetTemplate.from_file(WIDGETS / "flights.widget").sample_data
    assert listed[2]["sample_data"] is None
    assert listed[2]["schema"] == BADGE["jsonSchema"]


async def test_a_template_is_rendered_with_the_data_given_or_says_what_is_wrong() -> None:
    from chatkit_handlers.templates import WidgetTemplate

    app = make_app(playground_templates=[WidgetTemplate(BADGE)])
    async with AsyncTestClient(app) as client:
        rendered = await client.post(
            f"{API}/templates/render", json={"name": "badge", "data": {"label": "hi"}}
        )
        assert rendered.status_code == 200
        assert rendered.json() == {"widget": {"type": "Card", "children": [{"type": "Badge", "label": "hi"}]}}
        wrong = await client.post(f"{API}/templates/render", json={"name": "badge", "data": {"label": 1}})
        assert wrong.status_code == 422
        assert wrong.json()["code"] == "template.invalid"
        assert "data.label: 1 is not of type 'string'" in wrong.json()["message"]
        missing = await client.post(f"{API}/templates/render", json={"name": "nope"})
        assert missing.status_code == 404
        assert missing.json()["message"] == "no template 'nope' (the app has 'badge')"
        for body, code in ((b"{", "request.malformed"), (b'{"data": {}}', "request.invalid")):
            refused = await client.post(f"{API}/templates/render", content=body)
            assert (refused.status_code, refused.json()["code"]) == (400, code)
        assert (await client.get(f"{API}/templates/render")).status_code == 405


async def test_without_templates_the_list_is_empty(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get(f"{API}/templates")).json() == {"data": []}
    missing = await client.post(f"{API}/templates/render", json={"name": "x"})
    assert missing.json()["message"] == "no template 'x' (the app has none)"


def test_templates_that_cannot_be_read_fail_the_plugin_not_a_request(tmp_path: Path) -> None:
    from chatkit_handlers.templates import WidgetTemplate

    def plugin(*templates: Any, playground: bool = True) -> ChatKitPlugin:
        return ChatKitPlugin(
            ActionRouter(), store=MemoryStore(), playground=playground, playground_templates=templates
        )

    with pytest.raises(RegistrationError, match=r"holds no \.widget file"):
        plugin(tmp_path)
    with pytest.raises(RegistrationError, match=r"cannot read .*missing\.widget': No such file"):
        plugin(tmp_path / "missing.widget")
    with pytest.raises(RegistrationError, match="more than one template is named 'badge'"):
        plugin(WidgetTemplate(BADGE), WidgetTemplate(BADGE))
    with pytest.raises(RegistrationError, match="set playground=True too"):
        plugin(WidgetTemplate(BADGE), playground=False)
    (tmp_path / "broken.widget").write_text("{")
    with pytest.raises(TemplateError, match="is not JSON"):
        plugin(tmp_path)
