"""What a Litestar user relies on keeps working on the ChatKitPlugin route.

The endpoint is an ``@asgi`` route (it decodes, validates and encodes itself, to
skip Litestar's per-request handler pipeline); these tests prove that the rest
of Litestar still wraps it: app middleware (a custom one, CORS, rate limiting),
guards, authentication middleware (``scope["user"]`` → ``request.user`` in the
``context`` callable), route ``opt``, exception handlers and logging, and the
app's lifespan hooks. The OpenAPI documentation of the route is tested elsewhere.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest
from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.logging import LoggingConfig
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.testing import TestClient
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from chatkit_handlers import ActionContext, ActionRouter, on_action
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore
from chatkit_handlers.testing._asgi import post_scope
from chatkit_handlers.types import ThreadItemUpdatedEvent, ThreadMetadata, WidgetItem
from examples.counter.widgets import counter_card

THREAD = "thr_lit"
ITEM = "wid_lit"


class User(msgspec.Struct, frozen=True):
    """The authenticated user the app derives from a bearer token."""

    name: str


SEEN: list[Any] = []
"""The request contexts handlers received, in order."""


@on_action("lit.whoami", streaming=False)
async def whoami(ctx: ActionContext[Any], context: Any) -> dict[str, Any]:
    SEEN.append(context)
    return counter_card(len(context.name) if isinstance(context, User) else 0)


@on_action("lit.stream")
async def stream_whoami(ctx: ActionContext[Any], context: Any) -> AsyncIterator[ThreadItemUpdatedEvent]:
    SEEN.append(context)
    yield ctx.update_widget(counter_card(7))


@on_action("lit.boom", streaming=False)
async def boom(ctx: ActionContext[Any]) -> None:
    raise RuntimeError("handler failed")


@on_action("lit.stream_boom")
async def stream_boom(ctx: ActionContext[Any]) -> AsyncIterator[ThreadItemUpdatedEvent]:
    raise RuntimeError("stream handler failed")
    yield


def make_router() -> ActionRouter:
    router = ActionRouter()
    for fn in (whoami, stream_whoami, boom, stream_boom):
        router.add(fn)
    return router


async def seed(store: MemoryStore) -> None:
    await store.save_thread(ThreadMetadata(id=THREAD), context=None)
    await store.add_thread_item(
        THREAD, WidgetItem(id=ITEM, thread_id=THREAD, widget=counter_card(0)), context=None
    )


def seeded_store() -> MemoryStore:
    store = MemoryStore()
    anyio.run(seed, store)
    return store


def body(action_type: str, *, streaming: bool = False) -> bytes:
    kind = "threads.custom_action" if streaming else "threads.sync_custom_action"
    return msgspec.json.encode(
        {"type": kind, "params": {"thread_id": THREAD, "item_id": ITEM, "action": {"type": action_type}}}
    )


def count(response: Any) -> int:
    return int(response.json()["updated_item"]["widget"]["children"][0]["value"])


def sse(response: Any) -> list[dict[str, Any]]:
    return [msgspec.json.decode(block[6:]) for block in response.content.split(b"\n\n") if block]


def plugin(**kwargs: Any) -> ChatKitPlugin:
    return ChatKitPlugin(make_router(), store=kwargs.pop("store", None) or seeded_store(), **kwargs)


@pytest.fixture(autouse=True)
def _reset_seen() -> None:
    SEEN.clear()


# --------------------------------------------------------------------------- middleware


def header_middleware(name: bytes, calls: list[str]) -> Callable[[ASGIApp], ASGIApp]:
    """A plain ASGI middleware factory that records each call and adds a response header."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            calls.append(scope["path"])

            async def send_wrapper(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), (name, b"yes")]
                await send(message)

            await app(scope, receive, send_wrapper)

        return middleware

    return factory


def test_app_middleware_wraps_sync_and_streaming_answers() -> None:
    calls: list[str] = []
    app = Litestar(plugins=[plugin()], middleware=[header_middleware(b"x-app-mw", calls)])
    with TestClient(app) as client:
        sync = client.post("/chatkit", content=body("lit.whoami"))
        stream = client.post("/chatkit", content=body("lit.stream", streaming=True))
    assert sync.status_code == 200
    assert sync.headers["x-app-mw"] == "yes"
    assert stream.status_code == 200
    assert stream.headers["x-app-mw"] == "yes"
    assert sse(stream)[-1]["type"] == "thread.item.updated"
    assert calls == ["/chatkit", "/chatkit"]


def test_a_middleware_that_reads_the_body_first_leaves_it_to_the_endpoint() -> None:
    """As Litestar's LoggingMiddleware (which the structlog plugin adds) does: through a ``Request``."""
    read: list[bytes] = []

    def reads_body(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            read.append(await Request(scope, receive).body())
            await app(scope, receive, send)

        return middleware

    with TestClient(Litestar(plugins=[plugin()], middleware=[reads_body])) as client:
        sync = client.post("/chatkit", content=body("lit.whoami"))
        stream = client.post("/chatkit", content=body("lit.stream", streaming=True))
    assert read == [body("lit.whoami"), body("lit.stream", streaming=True)]
    assert sync.status_code == 200
    assert msgspec.json.decode(sync.content)["updated_item"]["id"] == ITEM
    assert sse(stream)[-1]["type"] == "thread.item.updated"


def test_define_middleware_with_options_runs_in_order() -> None:
    calls: list[str] = []

    def tagging(app: ASGIApp, tag: str) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            calls.append(tag)
            await app(scope, receive, send)

        return middleware

    app = Litestar(
        plugins=[plugin()],
        middleware=[DefineMiddleware(tagging, tag="outer"), DefineMiddleware(tagging, tag="inner")],
    )
    with TestClient(app) as client:
        assert client.post("/chatkit", content=body("lit.whoami")).status_code == 200
    assert calls == ["outer", "inner"]


def test_route_level_middleware() -> None:
    calls: list[str] = []
    app = Litestar(plugins=[plugin(middleware=[header_middleware(b"x-route-mw", calls)])])
    with TestClient(app) as client:
        response = client.post("/chatkit", content=body("lit.whoami"))
    assert response.status_code == 200
    assert response.headers["x-route-mw"] == "yes"
    assert calls == ["/chatkit"]


def test_cors_preflight_and_headers_on_the_route() -> None:
    app = Litestar(plugins=[plugin()], cors_config=CORSConfig(allow_origins=["https://app.example"]))
    with TestClient(app) as client:
        preflight = client.options(
            "/chatkit",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        answer = client.post(
            "/chatkit", content=body("lit.whoami"), headers={"origin": "https://app.example"}
        )
        stranger = client.post(
            "/chatkit", content=body("lit.whoami"), headers={"origin": "https://evil.example"}
        )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in stranger.headers


def test_rate_limit_middleware_applies() -> None:
    app = Litestar(plugins=[plugin()], middleware=[RateLimitConfig(rate_limit=("minute", 2)).middleware])
    with TestClient(app) as client:
        statuses = [client.post("/chatkit", content=body("lit.whoami")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


# --------------------------------------------------------------------------- guards


def needs_header(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Allow only requests carrying ``x-allow: yes``; the route's ``opt`` names the realm."""
    if connection.headers.get("x-allow") != "yes":
        raise PermissionDeniedException(f"denied in realm {handler.opt.get('realm')}")


def test_guard_refuses_before_the_handler_runs_and_sees_opt() -> None:
    store = seeded_store()
    app = Litestar(plugins=[plugin(store=store, guards=[needs_header], opt={"realm": "chat"})])
    with TestClient(app) as client:
        refused = client.post("/chatkit", content=body("lit.whoami"))
        refused_stream = client.post("/chatkit", content=body("lit.stream", streaming=True))
        allowed = client.post("/chatkit", content=body("lit.whoami"), headers={"x-allow": "yes"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "denied in realm chat"
    assert refused_stream.status_code == 403
    assert allowed.status_code == 200
    assert SEEN == [None]  # only the allowed request reached a handler


def test_async_guard() -> None:
    async def async_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if "x-allow" not in connection.headers:
            raise NotAuthorizedException("no")

    app = Litestar(plugins=[plugin(guards=[async_guard])])
    with TestClient(app) as client:
        assert client.post("/chatkit", content=body("lit.whoami")).status_code == 401
        assert (
            client.post("/chatkit", content=body("lit.whoami"), headers={"x-allow": "1"}).status_code == 200
        )


# --------------------------------------------------------------------------- authentication


class BearerAuth(AbstractAuthenticationMiddleware):
    """``Authorization: Bearer <name>`` → ``User(name)``; anything else is refused with 401."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            raise NotAuthorizedException("missing bearer token")
        return AuthenticationResult(user=User(token), auth=token)


def user_context(request: Request[Any, Any, Any]) -> User:
    assert request.scope["user"] is request.user  # what the middleware set, as Litestar exposes it
    assert request.auth == request.user.name
    user: User = request.user
    return user


async def async_user_context(request: Request[Any, Any, Any]) -> User:
    return user_context(request)


@pytest.mark.parametrize("context", [user_context, async_user_context], ids=["sync", "async"])
def test_authentication_middleware_user_reaches_handlers(context: Callable[..., Any]) -> None:
    auth = DefineMiddleware(BearerAuth)
    app = Litestar(plugins=[plugin(context=context)], middleware=[auth])
    with TestClient(app) as client:
        anonymous = client.post("/chatkit", content=body("lit.whoami"))
        sync = client.post("/chatkit", content=body("lit.whoami"), headers={"authorization": "Bearer alice"})
        stream = client.post(
            "/chatkit", content=body("lit.stream", streaming=True), headers={"authorization": "Bearer bob"}
        )
    assert anonymous.status_code == 401
    assert sync.status_code == 200
    assert count(sync) == len("alice")
    assert stream.status_code == 200
    assert [User("alice"), User("bob")] == SEEN


def test_route_opt_can_exclude_the_endpoint_from_authentication() -> None:
    app = Litestar(
        plugins=[plugin(opt={"exclude_from_auth": True})],
        middleware=[DefineMiddleware(BearerAuth)],
    )
    with TestClient(app) as client:
        response = client.post("/chatkit", content=body("lit.whoami"))
    assert response.status_code == 200
    assert SEEN == [None]


def test_authentication_exclude_pattern() -> None:
    app = Litestar(
        plugins=[plugin(path="/public/chatkit")],
        middleware=[DefineMiddleware(BearerAuth, exclude="^/public")],
    )
    with TestClient(app) as client:
        assert client.post("/public/chatkit", content=body("lit.whoami")).status_code == 200


# --------------------------------------------------------------------------- exceptions


def test_context_callable_errors_go_through_litestar_exception_handling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled: list[str] = []
    hooked: list[BaseException] = []

    def refuse(request: Request[Any, Any, Any]) -> Any:
        if request.headers.get("x-mode") == "http":
            raise PermissionDeniedException("context refused")
        raise LookupError("context lookup failed")

    def lookup_handler(request: Request[Any, Any, Any], exc: LookupError) -> Response[dict[str, str]]:
        handled.append(str(exc))
        return Response({"detail": "mapped by the app"}, status_code=418)

    async def after_exception(exc: BaseException, scope: Scope) -> None:
        hooked.append(exc)

    app = Litestar(
        plugins=[plugin(context=refuse)],
        exception_handlers={LookupError: lookup_handler},
        after_exception=[after_exception],
    )
    with TestClient(app) as client:
        http_error = client.post("/chatkit", content=body("lit.whoami"), headers={"x-mode": "http"})
        mapped = client.post("/chatkit", content=body("lit.whoami"))
    assert http_error.status_code == 403
    assert http_error.json()["detail"] == "context refused"
    assert mapped.status_code == 418
    assert mapped.json() == {"detail": "mapped by the app"}
    assert handled == ["context lookup failed"]
    assert [type(e) for e in hooked] == [PermissionDeniedException, LookupError]
    assert SEEN == []


class Collect(logging.Handler):
    """Keeps the records it is handed (Litestar's own logger does not propagate to caplog)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_unhandled_error_outside_the_dispatcher_is_logged_by_litestar() -> None:
    def broken(request: Request[Any, Any, Any]) -> Any:
        raise RuntimeError("context exploded")

    app = Litestar(
        plugins=[plugin(context=broken)],
        logging_config=LoggingConfig(log_exceptions="always", configure_root_logger=False),
    )
    collect = Collect()
    with TestClient(app, raise_server_exceptions=False) as client:
        litestar_logger = logging.getLogger("litestar")
        litestar_logger.addHandler(collect)
        try:
            response = client.post("/chatkit", content=body("lit.whoami"))
        finally:
            litestar_logger.removeHandler(collect)
    assert response.status_code == 500
    assert "context exploded" not in response.text  # no traceback or message leaks to the client
    logged = [r for r in collect.records if r.exc_info]
    assert len(logged) == 1
    assert "path='/chatkit'" in logged[0].getMessage()
    assert str(logged[0].exc_info[1]) == "context exploded"  # type: ignore[index]


def test_handler_errors_are_logged_with_traceback_and_answered_cleanly() -> None:
    app = Litestar(plugins=[plugin()])
    collect = Collect()
    ours = logging.getLogger("chatkit_handlers")
    with TestClient(app) as client:
        ours.addHandler(collect)
        try:
            sync = client.post("/chatkit", content=body("lit.boom"))
            stream = client.post("/chatkit", content=body("lit.stream_boom", streaming=True))
        finally:
            ours.removeHandler(collect)
    assert sync.status_code == 500
    assert sync.json()["code"] == "handler.error"
    assert "handler failed" not in sync.text
    assert stream.status_code == 200
    assert sse(stream)[-1] == {"type": "error", "code": "stream.error", "allow_retry": True}
    assert [str(r.exc_info[1]) for r in collect.records if r.exc_info] == [
        "handler failed",
        "stream handler failed",
    ]


# --------------------------------------------------------------------------- lifespan


def test_lifespan_and_startup_hooks_run_around_the_endpoint() -> None:
    store = MemoryStore()
    events: list[str] = []

    async def on_startup() -> None:
        events.append("startup")
        await seed(store)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        events.append("lifespan enter")
        yield
        events.append("lifespan exit")

    app = Litestar(
        plugins=[plugin(store=store)],
        on_startup=[on_startup],
        on_shutdown=[lambda: events.append("shutdown")],
        lifespan=[lifespan],
    )
    with TestClient(app) as client:
        assert client.post("/chatkit", content=body("lit.whoami")).status_code == 200
        events.append("served")
    assert events == ["lifespan enter", "startup", "served", "lifespan exit", "shutdown"]


def test_app_state_and_dependencies_are_reachable_from_the_context_callable() -> None:
    def from_state(request: Request[Any, Any, Any]) -> User:
        return User(request.app.state.tenant)

    app = Litestar(plugins=[plugin(context=from_state)], state=State({"tenant": "acme"}))
    with TestClient(app) as client:
        response = client.post("/chatkit", content=body("lit.whoami"))
    assert response.status_code == 200
    assert [User("acme")] == SEEN


# --------------------------------------------------------------------------- disconnects and cancellation


class Hanging:
    """An SSE stream that sends one chunk and then waits forever; records that it was closed."""

    def __init__(self) -> None:
        self.closed = False
        self.first_sent = anyio.Event()

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            yield b"data: {}\n\n"
            await anyio.sleep_forever()
        finally:
            self.closed = True


def asgi_pair(hanging: Hanging, *, disconnect: bool) -> tuple[Receive, Send, list[Message]]:
    sent: list[Message] = []

    async def receive() -> Message:
        await hanging.first_sent.wait()
        if disconnect:
            return {"type": "http.disconnect"}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body"):
            hanging.first_sent.set()

    return receive, send, sent


@pytest.mark.anyio
@pytest.mark.parametrize("portable", [False, True], ids=["asyncio", "anyio task group"])
async def test_disconnect_closes_the_stream_and_returns_normally(portable: bool) -> None:
    from chatkit_handlers._execution.asgi import _pump_in_task_group, close_stream, send_stream
    from chatkit_handlers.dispatch import DispatchResult

    hanging = Hanging()
    receive, send, sent = asgi_pair(hanging, disconnect=True)
    stream = hanging.stream()
    with anyio.fail_after(10):  # a hang guard, not a timing assertion
        if portable:
            await _pump_in_task_group(stream, 200, receive, send)
            await close_stream(stream)
        else:
            await send_stream(DispatchResult(200, stream=stream), receive, send)
    assert hanging.closed
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


@pytest.mark.anyio
async def test_a_cancellation_that_is_not_a_disconnect_still_propagates() -> None:
    from chatkit_handlers._execution.asgi import send_stream
    from chatkit_handlers.dispatch import DispatchResult

    hanging = Hanging()
    receive, send, _sent = asgi_pair(hanging, disconnect=False)
    outcome: list[str] = []

    async def serve() -> None:
        try:
            await send_stream(DispatchResult(200, stream=hanging.stream()), receive, send)
        except BaseException as exc:  # the server's own cancellation must come through
            outcome.append(type(exc).__name__)
            raise
        outcome.append("returned")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            await hanging.first_sent.wait()
            tg.cancel_scope.cancel()
    assert outcome == ["CancelledError"]
    assert hanging.closed


def body_then(data: bytes, after: Callable[[], Awaitable[Message]]) -> Receive:
    """An ASGI ``receive``: the whole body ``data`` at once, then whatever ``after()`` gives."""
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": data, "more_body": False}
        return await after()

    return receive


def test_a_disconnect_while_the_finished_stream_is_written_does_not_stop_the_write() -> None:
    """The final write is shielded: a client leaving during it (on asyncio) cannot cut it off."""
    import asyncio

    class SlowWrites(MemoryStore):
        """Every item write waits a moment: long enough for the client to leave meanwhile."""

        writing: asyncio.Event

        async def save_item(self, thread_id: str, item: Any, *, context: Any = None) -> None:
            self.writing.set()
            await asyncio.sleep(0.05)
            await super().save_item(thread_id, item, context=context)

    async def run() -> tuple[list[Message], int]:
        store = SlowWrites()
        SlowWrites.writing = asyncio.Event()
        await seed(store)
        SlowWrites.writing = asyncio.Event()  # set by the stream's write, not by the seeding
        app = Litestar(plugins=[plugin(store=store)])
        sent: list[Message] = []

        async def leave() -> Message:
            await SlowWrites.writing.wait()  # the handler has finished; its update is being written
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        data = body("lit.stream", streaming=True)
        await asyncio.wait_for(app(post_scope("/chatkit", data), body_then(data, leave), send), 10)  # type: ignore[arg-type]
        stored = await store.load_item(THREAD, ITEM, context=None)
        assert isinstance(stored, WidgetItem)
        return sent, int(stored.widget["children"][0]["value"])

    sent, stored_count = asyncio.run(run())
    assert b"thread.item.updated" in b"".join(m.get("body", b"") for m in sent)
    assert stored_count == 7


def test_finished_streams_leave_no_watcher_task_behind() -> None:
    import asyncio

    app = Litestar(plugins=[plugin()])

    async def run() -> set[asyncio.Task[Any]]:
        call_body = body("lit.stream", streaming=True)
        sent: list[Message] = []

        async def stay() -> Message:
            await asyncio.Event().wait()  # a client that stays connected
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            sent.append(message)

        await app(post_scope("/chatkit", call_body), body_then(call_body, stay), send)  # type: ignore[arg-type]
        assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
        await asyncio.sleep(0)  # let the cancelled watcher finish
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    assert asyncio.run(run()) == set()


# --------------------------------------------------------------------------- request bodies


def asgi_post(
    app: Litestar, messages: list[Message], headers: list[tuple[bytes, bytes]]
) -> tuple[list[Message], int]:
    """POST through the ASGI app with the body split into ``messages``; the sent messages and receives used."""
    sent: list[Message] = []
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/chatkit",
        "raw_path": b"/chatkit",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    anyio.run(app, scope, receive, send)  # type: ignore[arg-type]
    return sent, len(messages) - len(pending)


def test_a_body_in_several_messages_is_joined() -> None:
    data = body("lit.whoami")
    parts = [data[:7], data[7:30], data[30:]]
    messages: list[Message] = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    sent, used = asgi_post(Litestar(plugins=[plugin()]), messages, [])
    assert sent[0]["status"] == 200
    assert used == 3
    assert msgspec.json.decode(sent[1]["body"])["updated_item"]["id"] == ITEM


def test_too_big_bodies_are_refused_without_reading_the_rest() -> None:
    data = body("lit.whoami")
    app = Litestar(plugins=[plugin(max_body_size=len(data) - 1)])
    whole, _ = asgi_post(app, [{"type": "http.request", "body": data, "more_body": False}], [])
    announced, used = asgi_post(
        app,
        [
            {"type": "http.request", "body": data[:10], "more_body": True},
            {"type": "http.request", "body": data[10:], "more_body": False},
        ],
        [(b"content-length", str(len(data)).encode())],
    )
    assert whole[0]["status"] == 413
    assert announced[0]["status"] == 413
    assert used == 0  # the announced length was enough to refuse, before any of the body arrived


def test_litestars_cli_has_the_chatkit_commands(tmp_path: pathlib.Path) -> None:
    """``litestar chatkit routes|schema|typescript`` for the plugin's router, in a fresh process."""
    import os
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    env = {**os.environ, "CHATKIT_SQLITE_PATH": str(tmp_path / "cli.sqlite3"), "PYTHONPATH": str(root)}
    litestar = [sys.executable, "-m", "litestar", "--app", "examples.counter.app:app", "chatkit"]

    def run(*args: str) -> str:
        done = subprocess.run(
            [*litestar, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    table = run("routes")
    assert "counter.increment  sync" in table
    assert "``" not in table  # docstrings' reST literals rendered as `x`
    assert "Increment" in run("schema")
    run("typescript", "-o", str(tmp_path / "actions.d.ts"))
    assert "counter.increment" in (tmp_path / "actions.d.ts").read_text()
