"""ActionRouter: registration, matching, injection and payload validation."""

from __future__ import annotations

import textwrap
import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest

from chatkit_handlers import ActionContext, ActionRouter, on_action
from chatkit_handlers._routing.signature import Source
from chatkit_handlers.errors import DispatchError, RegistrationError
from chatkit_handlers.stores import MemoryStore, Store
from chatkit_handlers.types import ThreadMetadata, WidgetItem
from examples.counter import handlers
from examples.counter.handlers import Increment
from examples.counter.widgets import counter_card


def make_module(name: str, source: str, **namespace: Any) -> types.ModuleType:
    """A module named ``name`` whose functions are defined by ``source`` (so they belong to it)."""
    module = types.ModuleType(name)
    module.__dict__.update(
        {"on_action": on_action, "ActionContext": ActionContext, "Increment": Increment, **namespace}
    )
    exec(compile(textwrap.dedent(source), f"<{name}>", "exec"), module.__dict__)
    return module


def decode(router: ActionRouter, action_type: str, raw: bytes) -> Any:
    route = router.lookup(action_type)
    assert route is not None
    return route.decode_payload(msgspec.Raw(raw))


def payload_error(router: ActionRouter, action_type: str, raw: bytes) -> DispatchError:
    with pytest.raises(DispatchError) as info:
        decode(router, action_type, raw)
    assert info.value.status_code == 422
    assert info.value.code == "payload.invalid"
    return info.value


@pytest.fixture
def counter() -> ActionRouter:
    router = ActionRouter()
    router.include(handlers)
    return router


# ------------------------------------------------------------------ matching


def test_include_module_registers_its_handlers(counter: ActionRouter) -> None:
    assert len(counter) == 2
    assert "counter.increment" in counter
    assert "counter.reset" in counter
    assert "counter.nope" not in counter
    assert [(r.type, r.streaming) for r in counter.routes()] == [
        ("counter.increment", False),
        ("counter.reset", True),
    ]


def test_lookup_is_exact(counter: ActionRouter) -> None:
    route = counter.lookup("counter.increment")
    assert route is not None
    assert route.handler is handlers.increment
    assert route.payload_type is Increment
    assert counter.lookup("counter.Increment") is None
    assert counter.lookup("counter.*") is None
    assert counter.lookup("counter") is None
    assert "counter.increment" in repr(route)
    assert "sync" in repr(route)


def test_suggest_names_the_closest_types(counter: ActionRouter) -> None:
    assert counter.suggest("counter.incremnt")[0] == "counter.increment"
    assert counter.suggest("counter.rest")[0] == "counter.reset"
    assert counter.suggest("zzz") == []


def test_router_on_action_registers_at_once() -> None:
    router = ActionRouter()

    @router.on_action("x.sync", streaming=False)
    async def sync(ctx: ActionContext[Any]) -> None:
        return None

    @router.on_action("x.stream")
    async def stream(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("x")

    assert router.lookup("x.sync") is not None
    assert router.lookup("x.stream") is not None
    assert router.lookup("x.sync").handler is sync  # type: ignore[union-attr]


def test_one_function_for_several_types() -> None:
    @on_action("a")
    @on_action("b")
    async def both(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("x")

    router = ActionRouter()
    router.add(both)
    assert router.lookup("a").handler is both  # type: ignore[union-attr]
    assert router.lookup("b").handler is both  # type: ignore[union-attr]


def test_include_a_router_and_a_function() -> None:
    inner = ActionRouter()
    inner.include(handlers)

    @on_action("extra", streaming=False)
    async def extra() -> None:
        return None

    outer = ActionRouter()
    outer.include(inner)
    outer.include(extra)
    assert [r.type for r in outer.routes()] == ["counter.increment", "counter.reset", "extra"]


# ------------------------------------------------------------------ duplicates and include errors


def test_duplicate_type_at_include_names_both_functions() -> None:
    first = make_module(
        "shop_a",
        """
        @on_action("cart.add", streaming=False)
        async def add_to_cart(payload: Increment) -> None: ...
        """,
    )
    second = make_module(
        "shop_b",
        """
        @on_action("cart.add", streaming=False)
        async def add_item(payload: Increment) -> None: ...
        """,
    )
    router = ActionRouter()
    router.include(first)
    with pytest.raises(RegistrationError) as info:
        router.include(second)
    message = str(info.value)
    assert "'cart.add'" in message
    assert "shop_a.add_to_cart" in message
    assert "shop_b.add_item" in message


def test_duplicate_within_one_module() -> None:
    module = make_module(
        "dupes",
        """
        @on_action("x", streaming=False)
        async def one() -> None: ...

        @on_action("x", streaming=False)
        async def two() -> None: ...
        """,
    )
    with pytest.raises(RegistrationError, match=r"'x' has two handlers: dupes.one and dupes.two"):
        ActionRouter().include(module)


def test_duplicate_through_included_routers() -> None:
    a, b = ActionRouter(), ActionRouter()
    a.include(handlers)
    b.include(handlers)
    outer = ActionRouter()
    outer.include(a)
    with pytest.raises(RegistrationError, match=r"handler examples.counter.handlers.increment is already"):
        outer.include(b)


def test_including_a_module_twice_is_an_error(counter: ActionRouter) -> None:
    with pytest.raises(RegistrationError, match="included twice"):
        counter.include(handlers)


def test_including_a_router_twice_or_itself() -> None:
    inner, outer = ActionRouter(), ActionRouter()
    inner.include(handlers)
    outer.include(inner)
    with pytest.raises(RegistrationError, match="already included"):
        outer.include(inner)
    with pytest.raises(RegistrationError, match="cannot include itself"):
        outer.include(outer)


def test_module_include_takes_only_functions_defined_there() -> None:
    origin = make_module(
        "origin_mod",
        """
        @on_action("origin.act", streaming=False)
        async def act() -> None: ...
        """,
    )
    importer = make_module(
        "importer_mod",
        """
        @on_action("importer.own", streaming=False)
        async def own() -> None: ...
        """,
        act=origin.act,  # as `from origin_mod import act` would bind it
    )
    router = ActionRouter()
    router.include(importer)
    assert [r.type for r in router.routes()] == ["importer.own"]
    # ...so including both modules is not a duplicate.
    router.include(origin)
    assert [r.type for r in router.routes()] == ["importer.own", "origin.act"]


def test_module_without_handlers_is_an_error() -> None:
    with pytest.raises(RegistrationError, match="'empty_mod' defines no @on_action handler"):
        ActionRouter().include(make_module("empty_mod", "def helper(): ..."))


def test_undecorated_function_and_wrong_source() -> None:
    async def plain() -> None:
        return None

    with pytest.raises(RegistrationError, match="has no @on_action decorator"):
        ActionRouter().include(plain)
    with pytest.raises(TypeError, match="include\\(\\) takes a module"):
        ActionRouter().include(42)  # type: ignore[arg-type]


# ------------------------------------------------------------------ signature checks at registration


def register(fn: Any, **router_kwargs: Any) -> ActionRouter:
    router = ActionRouter(**router_kwargs)
    router.add(fn)
    return router


def test_unknown_parameter_is_refused_at_registration() -> None:
    @on_action("x", streaming=False)
    async def handler(ctx: ActionContext[Any], limit: int) -> None: ...

    with pytest.raises(RegistrationError) as info:
        register(handler)
    message = str(info.value)
    assert "cannot inject parameter 'limit'" in message
    assert "test_unknown_parameter_is_refused_at_registration.<locals>.handler" in message
    assert "ActionContext" in message


@pytest.mark.parametrize(
    "source",
    [
        "async def handler(*args): ...",
        "async def handler(**kwargs): ...",
        "async def handler(ctx: ActionContext, /): ...",
    ],
)
def test_variadic_and_positional_only_parameters_are_refused(source: str) -> None:
    module = make_module("variadic", source)
    with pytest.raises(RegistrationError, match="must be a plain named parameter"):
        register(on_action("x", streaming=False)(module.handler))


def test_two_payload_parameters_are_refused() -> None:
    @on_action("x", streaming=False)
    async def handler(payload: Increment, other: Increment) -> None: ...

    with pytest.raises(RegistrationError, match="two payload parameters, 'payload' and 'other'"):
        register(handler)


def test_unresolvable_annotation_is_refused() -> None:
    module = make_module(
        "unresolved",
        """
        from __future__ import annotations

        @on_action("x", streaming=False)
        async def handler(payload: Missing) -> None: ...
        """,
    )
    with pytest.raises(RegistrationError, match=r"cannot resolve the annotations.*Missing"):
        register(module.handler)


class Opaque:
    """Not something msgspec can decode."""


class Wrapper(msgspec.Struct):
    items: list[Opaque]


class Tree(msgspec.Struct):
    label: str = ""
    children: list[Tree] = []


class Required(msgspec.Struct):
    sku: str
    qty: int = 1


def test_payload_type_msgspec_cannot_decode_is_refused() -> None:
    @on_action("x", streaming=False)
    async def handler(payload: Opaque) -> None: ...

    with pytest.raises(RegistrationError, match=r"cannot be decoded by msgspec.*Opaque is not"):
        register(handler)


def test_payload_type_with_an_undecodable_part_is_refused() -> None:
    @on_action("x", streaming=False)
    async def handler(payload: Wrapper) -> None: ...

    with pytest.raises(RegistrationError, match="Opaque is not a msgspec-decodable type"):
        register(handler)


def test_recursive_payload_type_is_accepted() -> None:
    @on_action("x", streaming=False)
    async def handler(payload: Tree) -> None: ...

    router = register(handler)
    assert decode(router, "x", b'{"children": [{"label": "a"}]}') == Tree(children=[Tree(label="a")])


def test_a_pydantic_model_inside_a_msgspec_payload_is_refused_at_registration() -> None:
    # msgspec would accept the annotation and then reject every payload at request time; a
    # payload annotated with the pydantic model itself is validated by pydantic (test_pydantic_payloads).
    module = make_module(
        "pydantic_payload",
        """
        import pydantic

        class Order(pydantic.BaseModel):
            sku: str

        @on_action("x", streaming=False)
        async def handler(payload: list[Order]) -> None: ...
        """,
    )
    with pytest.raises(RegistrationError, match="Order is not a msgspec-decodable type"):
        register(module.handler)


def test_streaming_handler_must_be_an_async_generator() -> None:
    @on_action("x")
    async def handler(ctx: ActionContext[Any]) -> None: ...

    with pytest.raises(RegistrationError) as info:
        register(handler)
    assert "streaming=True" in str(info.value)
    assert "async generator" in str(info.value)
    assert "streaming=False" in str(info.value)


def test_sync_handler_must_not_be_a_generator() -> None:
    @on_action("x", streaming=False)
    async def agen(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("x")

    @on_action("y", streaming=False)
    def gen(ctx: ActionContext[Any]) -> Iterator[Any]:
        yield ctx.progress("x")

    for fn in (agen, gen):
        with pytest.raises(RegistrationError, match="registered with streaming=False but is a generator"):
            register(fn)


def test_plain_def_streaming_handler_is_refused() -> None:
    @on_action("x")
    def handler(ctx: ActionContext[Any]) -> Iterator[Any]:
        yield ctx.progress("x")

    with pytest.raises(RegistrationError, match="must be an async generator"):
        register(handler)


def test_sync_handler_may_be_plain_def() -> None:
    @on_action("x", streaming=False)
    def handler(ctx: ActionContext[Any]) -> None: ...

    assert register(handler).lookup("x") is not None


# ------------------------------------------------------------------ injection


class User(msgspec.Struct):
    name: str


def test_injection_by_annotation_and_name() -> None:
    @on_action("x", streaming=False)
    async def handler(
        data: Increment,
        ctx: ActionContext[User],
        thread: ThreadMetadata,
        sender: WidgetItem | None,
        store: Store,
        memory: MemoryStore,
        context: Any,
    ) -> None: ...

    route = register(handler).lookup("x")
    assert route is not None
    assert route.payload_type is Increment
    assert route.sender_required is False
    thread = ThreadMetadata(id="thr")
    sender = WidgetItem(id="wid", thread_id="thr", widget=counter_card(0))
    store = MemoryStore()
    ctx: ActionContext[Any] = ActionContext(thread=thread, sender=sender, store=store, context="ctx")
    assert route.arguments(ctx, Increment(by=4)) == {
        "data": Increment(by=4),
        "ctx": ctx,
        "thread": thread,
        "sender": sender,
        "store": store,
        "memory": store,
        "context": "ctx",
    }


def test_context_type_is_injected_by_annotation() -> None:
    @on_action("x", streaming=False)
    async def handler(user: User, payload: Increment) -> None: ...

    route = register(handler, context_type=User).lookup("x")
    assert route is not None
    assert route.payload_type is Increment
    ctx: ActionContext[Any] = ActionContext(thread=ThreadMetadata(id="t"), context=User("ann"))
    assert route.arguments(ctx, None) == {"user": User("ann"), "payload": None}
    # Without context_type, a Struct-annotated parameter beside the one named 'payload' is a
    # provided type (issue 5); nothing provides it, which the router reports when checked.
    with pytest.raises(RegistrationError, match="cannot inject parameter 'user': nothing provides User"):
        register(handler).check()


def test_widget_item_parameter_requires_a_sender() -> None:
    @on_action("req", streaming=False)
    async def required(sender: WidgetItem) -> None: ...

    @on_action("opt", streaming=False)
    async def optional(sender: WidgetItem | None = None) -> None: ...

    assert register(required).lookup("req").sender_required is True  # type: ignore[union-attr]
    assert register(optional).lookup("opt").sender_required is False  # type: ignore[union-attr]


def test_parameters_are_resolved_once() -> None:
    @on_action("x", streaming=False)
    async def handler(payload: Increment, ctx: ActionContext[Any]) -> None: ...

    route = register(handler).lookup("x")
    assert route is not None
    assert route.params == (("payload", Source.PAYLOAD), ("ctx", Source.CONTEXT))


# ------------------------------------------------------------------ payload validation


@pytest.fixture
def payloads() -> ActionRouter:
    router = ActionRouter()

    @router.on_action("struct", streaming=False)
    async def struct(payload: Increment) -> None: ...

    @router.on_action("none", streaming=False)
    async def none(ctx: ActionContext[Any]) -> None: ...

    @router.on_action("optional", streaming=False)
    async def optional(payload: Increment | None) -> None: ...

    @router.on_action("number", streaming=False)
    async def number(payload: int) -> None: ...

    @router.on_action("untyped", streaming=False)
    async def untyped(payload) -> None: ...  # type: ignore[no-untyped-def]

    @router.on_action("mapping", streaming=False)
    async def mapping(payload: dict[str, int]) -> None: ...

    @router.on_action("required", streaming=False)
    async def required(payload: Required) -> None: ...

    return router


def test_invalid_payload_names_field_and_problem(payloads: ActionRouter) -> None:
    error = payload_error(payloads, "struct", b'{"by": "x"}')
    assert "Expected `int`, got `str` - at `$.by`" in error.message
    assert "'struct'" in error.message


def test_unknown_field_is_refused_for_forbid_unknown_fields(payloads: ActionRouter) -> None:
    error = payload_error(payloads, "struct", b'{"by": 1, "bye": 2}')
    assert "unknown field `bye`" in error.message


def test_wrong_payload_shape(payloads: ActionRouter) -> None:
    assert "Expected `object`, got `array`" in payload_error(payloads, "struct", b"[1]").message
    assert "Expected `int`, got `str`" in payload_error(payloads, "number", b'"5"').message


def test_missing_required_field(payloads: ActionRouter) -> None:
    for raw in (b"null", b"{}"):
        assert "missing required field `sku`" in payload_error(payloads, "required", raw).message
    assert decode(payloads, "required", b'{"sku": "A1"}').qty == 1


@pytest.mark.parametrize("raw", [b"null", b"{}", b"{ }", b"{\n}"])
def test_struct_with_defaults_accepts_absent_payload(payloads: ActionRouter, raw: bytes) -> None:
    assert decode(payloads, "struct", raw) == Increment(by=1)


def test_struct_payload_decodes(payloads: ActionRouter) -> None:
    assert decode(payloads, "struct", b'{"by": 5}') == Increment(by=5)


@pytest.mark.parametrize("raw", [b"null", b"{}", b"{ }", b" null "])
def test_no_payload_handler_accepts_absent_null_or_empty(payloads: ActionRouter, raw: bytes) -> None:
    assert decode(payloads, "none", raw) is None


@pytest.mark.parametrize("raw", [b'{"a": 1}', b"[]", b"0", b'""', b"false"])
def test_no_payload_handler_refuses_a_payload(payloads: ActionRouter, raw: bytes) -> None:
    error = payload_error(payloads, "none", raw)
    assert "takes no payload" in error.message
    assert "declares no payload parameter" in error.message


def test_optional_payload_keeps_null(payloads: ActionRouter) -> None:
    assert decode(payloads, "optional", b"null") is None
    assert decode(payloads, "optional", b"{}") == Increment()


def test_other_payload_types(payloads: ActionRouter) -> None:
    assert decode(payloads, "number", b"5") == 5
    assert decode(payloads, "untyped", b'{"any": [1]}') == {"any": [1]}
    assert decode(payloads, "untyped", b"null") is None
    assert decode(payloads, "mapping", b'{"a": 1}') == {"a": 1}
    assert decode(payloads, "mapping", b"null") == {}
    assert (
        "Expected `int`, got `str` - at `$[...]`" in payload_error(payloads, "mapping", b'{"a": "x"}').message
    )


def test_absent_payload_for_a_scalar_says_null(payloads: ActionRouter) -> None:
    # An absent payload is null on the wire; the message must not claim an object was sent.
    assert "Expected `int`, got `null`" in payload_error(payloads, "number", b"null").message
