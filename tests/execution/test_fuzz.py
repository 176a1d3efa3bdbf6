"""Generated requests against a real Litestar app on every store: never a 5xx, always the documented shapes.

Hypothesis builds request bodies of every kind the endpoint can be sent: valid envelopes
with wrong payloads, envelopes with wrong types in every field, deep nesting, invalid UTF-8,
NUL characters and lone surrogates, huge numbers, duplicate keys, empty and truncated
bodies, and raw bytes; then other methods and content types. Every answer must be a
documented JSON error (the shape of an ``error`` event, with no traceback or internal
name in it) or a well-formed answer: a ``SyncCustomActionResponse``, or an SSE stream
of ``data: <json>`` frames.

The number of cases is bounded: ``CHATKIT_FUZZ_EXAMPLES`` per store and test (200 by
default; ``make fuzz`` runs 7,000 per store and test, over 20,000 in all).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from _stores_support import BACKENDS, open_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from chatkit_handlers import ActionRouter
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import Store
from chatkit_handlers.types import ThreadMetadata, WidgetItem
from examples.counter import handlers as counter_handlers
from examples.counter.widgets import counter_card

pytestmark = pytest.mark.anyio

EXAMPLES = int(os.environ.get("CHATKIT_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CI") is not None,  # the same cases on every CI run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ERROR_KEYS = {"type", "code", "message", "allow_retry"}
INTERNAL = ("Traceback", "chatkit_handlers.", 'File "', "_execution", "_routing", "litestar.")

# --------------------------------------------------------------------------- strategies

ACTION_TYPES = st.sampled_from(["counter.increment", "counter.reset", "counter.unknown", "", "counter.*"])
IDS = st.one_of(
    st.sampled_from(["thr_fuzz", "wid_fuzz", "thr_\x00", "x" * 300]),
    st.text(max_size=20),
)
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
PAYLOADS = st.one_of(
    JSON,
    st.fixed_dictionaries({"by": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), JSON)}),
)


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    """A request envelope, well-formed or off in one or more fields."""
    params: dict[str, Any] = {
        "thread_id": draw(st.one_of(IDS, JSON)),
        "action": draw(
            st.one_of(
                st.fixed_dictionaries({"type": st.one_of(ACTION_TYPES, JSON), "payload": PAYLOADS}),
                JSON,
            )
        ),
    }
    if draw(st.booleans()):
        params["item_id"] = draw(st.one_of(IDS, JSON))
    kind = draw(
        st.one_of(
            st.sampled_from(["threads.sync_custom_action", "threads.custom_action", "threads.list", "nope"]),
            JSON,
        )
    )
    return {"type": kind, "params": draw(st.one_of(st.just(params), JSON))}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Request bytes: encoded envelopes, then damaged ones, then anything."""
    encoded = msgspec.json.encode(draw(envelopes()))
    damage = draw(
        st.sampled_from(["none", "truncate", "utf8", "surrogate", "deep", "duplicate", "nan", "raw"])
    )
    if damage == "truncate":
        return encoded[: draw(st.integers(min_value=0, max_value=len(encoded)))]
    if damage == "utf8":
        at = draw(st.integers(min_value=0, max_value=len(encoded)))
        return encoded[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + encoded[at:]
    if damage == "surrogate":  # a lone surrogate, escaped: valid JSON syntax, no valid string
        return encoded.replace(b'"thr_fuzz"', b'"\\ud800"').replace(b'"wid_fuzz"', b'"w\\udfff"')
    if damage == "deep":
        depth = draw(st.sampled_from([100, 1000, 5000]))
        return encoded.replace(b'"payload":', b'"payload":' + nested(depth) + b',"x":', 1)
    if damage == "duplicate":
        return encoded.replace(b'{"type":', b'{"type":"threads.list","type":', 1)
    if damage == "nan":
        return encoded.replace(b'"by":', b'"by":NaN,"z":', 1)
    if damage == "raw":
        return draw(st.binary(max_size=200))
    return encoded


# --------------------------------------------------------------------------- the app


def make_router() -> ActionRouter:
    router = ActionRouter()
    router.include(counter_handlers)
    return router


@pytest.fixture(params=[*BACKENDS, "memory, plain ASGI app"])
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """The Litestar app on every store, and ``ChatKitApp`` (in Starlette) on one."""
    kind = str(request.param)
    async with open_store(kind.split(",")[0], tmp_path) as store:
        await seed(store)
        if kind.endswith("plain ASGI app"):
            import httpx
            from starlette.applications import Starlette
            from starlette.routing import Route

            from chatkit_handlers.asgi import ChatKitApp

            asgi = Starlette(
                routes=[Route("/chatkit", ChatKitApp(make_router(), store=store, lock_timeout=1))]
            )
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=asgi), base_url="http://testserver"
            ) as http:
                yield http
            return
        app = Litestar(plugins=[ChatKitPlugin(make_router(), store=store, lock_timeout=1)])
        async with AsyncTestClient(app) as test_client:
            yield test_client


async def seed(store: Store) -> None:
    await store.save_thread(ThreadMetadata(id="thr_fuzz"), context=None)
    item = WidgetItem(id="wid_fuzz", thread_id="thr_fuzz", widget=counter_card(0))
    await store.add_thread_item("thr_fuzz", item, context=None)


def check(status: int, content_type: str, body: bytes, *, passthrough: bool = False) -> None:
    """The answer is documented: a 2xx of the right shape, or a 4xx JSON error body; never a 5xx.

    With ``passthrough`` (the one-endpoint mode) a 200 may be any of chatkit's answers.
    """
    assert status < 500, (status, body[:300])
    text = body.decode("utf-8", "replace")
    for internal in INTERNAL:
        assert internal not in text, (internal, text[:300])
    if content_type.startswith("text/event-stream"):
        assert status == 200
        assert body.endswith(b"\n\n"), body[-80:]
        for frame in body[:-2].split(b"\n\n"):
            assert frame.startswith(b"data: "), frame[:80]
            event = msgspec.json.decode(frame[6:])
            assert isinstance(event, dict)
            assert isinstance(event.get("type"), str)
            if event["type"] == "error":
                assert event["code"] in ("custom", "stream.error"), event
        return
    decoded = msgspec.json.decode(body)
    assert isinstance(decoded, dict)
    if status == 200:
        assert passthrough or set(decoded) <= {"updated_item"}, decoded
        return
    assert 400 <= status < 500
    assert set(decoded) == ERROR_KEYS, decoded
    assert decoded["type"] == "error"
    assert isinstance(decoded["code"], str)
    assert isinstance(decoded["message"], str)


# --------------------------------------------------------------------------- the tests


@FUZZ
@given(body=bodies())
async def test_any_body_gets_a_documented_answer(client: Any, body: bytes) -> None:
    answer = await client.post("/chatkit", content=body)
    check(answer.status_code, answer.headers.get("content-type", ""), answer.content)


@FUZZ
@given(
    method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "POST"]),
    content_type=st.sampled_from(["application/json", "text/plain", "multipart/form-data", ""]),
    body=bodies(),
)
async def test_any_method_and_content_type_gets_a_documented_answer(
    client: Any, method: str, content_type: str, body: bytes
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    answer = await client.request(method, "/chatkit", content=body, headers=headers)
    if method != "POST":
        assert answer.status_code == 405
    check(answer.status_code, answer.headers.get("content-type", ""), answer.content)


@pytest.fixture
async def one_endpoint() -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The one-endpoint mode: ``ChatKitPlugin(router, server=...)`` forwards what is not an action."""
    from examples.bridge.app import router as poll_router
    from examples.bridge.server import PollServer
    from examples.bridge.store import MemoryChatKitStore

    app = Litestar(plugins=[ChatKitPlugin(poll_router, server=PollServer(store=MemoryChatKitStore()))])
    async with AsyncTestClient(app) as test_client:
        yield test_client


@FUZZ
@given(body=bodies())
async def test_any_body_gets_a_documented_answer_in_one_endpoint_mode(
    one_endpoint: AsyncTestClient[Litestar], body: bytes
) -> None:
    answer = await one_endpoint.post("/chatkit", content=body)
    check(answer.status_code, answer.headers.get("content-type", ""), answer.content, passthrough=True)
