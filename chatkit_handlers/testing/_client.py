"""``ActionTestClient``: send actions the way ChatKit does, read typed answers back.

Every call builds the request body a browser would send and hands it to the
same code HTTP requests go through: ``Dispatcher.dispatch`` for a router (or a
dispatcher), the ASGI app itself for a Litestar app. Decoding, payload
validation, guards, middleware and persistence all apply, so a passing test
means a working endpoint.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Literal

import msgspec
from litestar import Litestar

from .._execution.asgi import close_stream
from .._execution.dispatcher import Dispatcher
from .._routing.router import ActionRouter
from .._wire.encode import error_body
from ..errors import NotFoundError
from ..litestar import ChatKitPlugin
from ..stores import MemoryStore, Store
from ..types import (
    ErrorEvent,
    HiddenContextItem,
    SyncCustomActionResponse,
    ThreadItem,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
    WidgetRoot,
)
from ._asgi import asgi_post
from ._builders import DEFAULT_THREAD_ID, make_thread, make_widget_item
from ._sse import SSEParser
from ._tree import component, descendants, first_form, set_path

__all__ = ["ActionFailed", "ActionTestClient"]

_encode = msgspec.json.Encoder().encode
_decode_sync: msgspec.json.Decoder[SyncCustomActionResponse] = msgspec.json.Decoder(SyncCustomActionResponse)

Sender = WidgetItem | str | None
ThreadRef = ThreadMetadata | str | None


class ActionFailed(Exception):
    """The endpoint refused the action: a 4xx/5xx answer instead of a result.

    Attributes:
        status_code: the HTTP status (404, 422, ...).
        code: the ChatKit error code (``"payload.invalid"``, ``"custom"``, ...);
            ``None`` when something in front of the endpoint answered (a
            Litestar guard or middleware) with a body that is not a ChatKit error.
        message: the error message (``""`` if none; or that other body, as text).
        allow_retry: the answer's ``allow_retry``.
        error: the body as an ``ErrorEvent`` (``None`` if it is not one).
        body: the raw body.

    Errors raised after a stream started are not refusals: they arrive as an
    ``error`` event in the stream (see ``assert_error_event``).
    """

    def __init__(self, status_code: int, body: bytes | None) -> None:
        self.status_code = status_code
        self.body = body or b""
        self.error: ErrorEvent | None = _error_event(self.body)
        self.code = self.error.code if self.error is not None else None
        self.message: str = (
            (self.error.message or "") if self.error is not None else self.body.decode(errors="replace")
        )
        self.allow_retry = self.error.allow_retry if self.error is not None else False
        super().__init__(f"{status_code} {self.code}: {self.message}")


class ActionTestClient:
    """Sends widget actions through the real dispatch path, in process.

    >>> client = ActionTestClient(router)  # doctest: +SKIP
    >>> item = await client.add_widget(counter_card(0))  # doctest: +SKIP
    >>> response = await client.sync("counter.increment", {"by": 2}, sender=item)  # doctest: +SKIP

    Args:
        target: an ``ActionRouter`` (served by a ``Dispatcher`` over ``store``),
            a ``Dispatcher``, or a Litestar app with a ``ChatKitPlugin`` (then
            requests go through the app: its middleware, guards and
            authentication apply; use ``async with`` so its lifespan runs).
        store: the store for a router (a fresh ``MemoryStore`` by default). A
            dispatcher or app brings its own.
        context: the per-request context handed to the dispatcher (say, the
            signed-in user); an app derives it from the request instead (pass
            ``headers``). The client also uses it for its own store reads and writes.
        thread_id: the thread actions go to when neither ``sender`` nor
            ``thread`` says otherwise; created on first use.
        headers: HTTP headers sent with every request to an app.

    Widget items and threads passed as ``sender``/``thread`` are added to the
    store if they are not there yet; ones already stored are used as stored,
    as over HTTP (so a widget updated by an earlier action keeps its update).
    """

    def __init__(
        self,
        target: ActionRouter | Dispatcher | Litestar,
        store: Store | None = None,
        context: Any = None,
        *,
        thread_id: str = DEFAULT_THREAD_ID,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.app: Litestar | None = None
        self.path = ""
        if isinstance(target, ActionRouter):
            self.dispatcher = Dispatcher(target, store if store is not None else MemoryStore())
        elif isinstance(target, Dispatcher):
            self.dispatcher = target
        elif isinstance(target, Litestar):
            plugin = next((p for p in target.plugins if isinstance(p, ChatKitPlugin)), None)
            if plugin is None:
                raise TypeError("the Litestar app has no ChatKitPlugin; add one, or pass the ActionRouter")
            self.app, self.path, self.dispatcher = target, plugin.path, plugin.dispatcher
        else:
            raise TypeError(
                f"ActionTestClient takes an ActionRouter, a Dispatcher or a Litestar app, got {target!r}"
            )
        if self.app is None:
            self._no_headers(headers)
        if store is not None and store is not self.dispatcher.store:
            raise ValueError("store= is only for a router: this dispatcher or app already has its store")
        self.store: Store = self.dispatcher.store
        self.context = context
        self.thread_id = thread_id
        self.headers = dict(headers or {})
        self._lifespan: AsyncExitStack | None = None

    def __repr__(self) -> str:
        target = "app" if self.app is not None else repr(self.dispatcher.router)
        return f"ActionTestClient({target}, thread_id={self.thread_id!r})"

    async def __aenter__(self) -> ActionTestClient:
        """Run the app's startup (its ``lifespan``); a no-op for a router."""
        if self.app is not None:
            stack = AsyncExitStack()
            await stack.enter_async_context(self.app.lifespan())
            self._lifespan = stack
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Run the app's shutdown."""
        stack, self._lifespan = self._lifespan, None
        if stack is not None:
            await stack.aclose()

    # ----------------------------------------------------------------- actions

    async def sync(
        self,
        action_type: str,
        payload: Any = None,
        *,
        sender: Sender = None,
        thread: ThreadRef = None,
        metadata: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SyncCustomActionResponse:
        """Send ``threads.sync_custom_action``; the parsed answer.

        Args:
            action_type: the action's ``type``.
            payload: the action's payload (a dict, a Struct, ...); ``None`` sends none.
            sender: the widget item the action comes from (or its id), or
                ``None`` for ``chatkit.sendCustomAction`` without an item. A
                widget item not stored yet is stored first; its thread must
                be stored, given as ``thread`` (a ``ThreadMetadata``), or the
                client's own thread (``thread_id``, created on first use):
                the client never invents another one.
            thread: the thread (a ``ThreadMetadata``, stored if it is not yet,
                or an id, sent as is), when there is no sender or to store
                the sender's thread; default: the client's thread. A sender
                given by id is looked up in this thread.
            metadata: the request's ``metadata``.
            headers: extra HTTP headers (apps only).

        Raises:
            ActionFailed: the endpoint answered with an error status.
        """
        body = await self._body("threads.sync_custom_action", action_type, payload, sender, thread, metadata)
        if self.app is None:
            self._no_headers(headers)
            result = await self.dispatcher.dispatch(body, self.context)
            status, data = result.status_code, result.body
            if result.stream is not None:  # cannot happen for a sync request; close it anyway
                await close_stream(result.stream)
        else:
            self._check_started()
            async with asgi_post(self.app, self.path, body, self._headers(headers)) as response:
                status, data = response.status_code, await response.read()
        if status != 200:
            raise ActionFailed(status, data)
        try:
            return _decode_sync.decode(data or b"")
        except msgspec.MsgspecError as exc:
            raise AssertionError(f"invalid SyncCustomActionResponse ({exc}): {data!r}") from None

    async def stream(
        self,
        action_type: str,
        payload: Any = None,
        *,
        sender: Sender = None,
        thread: ThreadRef = None,
        metadata: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[ThreadStreamEvent]:
        """Send ``threads.custom_action``; every event of the stream, in order.

        The first event is always ``stream_options``. Arguments as for :meth:`sync`.

        Raises:
            ActionFailed: the endpoint refused the action before the stream started.
        """
        opened = self.open_stream(
            action_type, payload, sender=sender, thread=thread, metadata=metadata, headers=headers
        )
        async with opened as events:
            return [event async for event in events]

    @asynccontextmanager
    async def open_stream(
        self,
        action_type: str,
        payload: Any = None,
        *,
        sender: Sender = None,
        thread: ThreadRef = None,
        metadata: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[AsyncIterator[ThreadStreamEvent]]:
        """Send ``threads.custom_action`` and read the events as they come.

        Leaving the block early hangs up, as a browser closing the stream does
        (the handler is cancelled and nothing it did is persisted). While the
        stream is open it holds its thread and sender widget, as over HTTP: a
        sync action on that widget sent from inside the block waits for it
        (and is refused with ``item.busy`` after the dispatcher's lock timeout)::

            async with client.open_stream("jobs.run", sender=item) as events:
                async for event in events:
                    ...

        Raises:
            ActionFailed: the endpoint refused the action before the stream started.
        """
        body = await self._body("threads.custom_action", action_type, payload, sender, thread, metadata)
        if self.app is None:
            self._no_headers(headers)
            result = await self.dispatcher.dispatch(body, self.context)
            if result.stream is None:
                raise ActionFailed(result.status_code, result.body)
            events = _events(result.stream)
            try:
                yield events
            finally:
                await events.aclose()
                await close_stream(result.stream)
        else:
            self._check_started()
            async with asgi_post(self.app, self.path, body, self._headers(headers)) as response:
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    raise ActionFailed(response.status_code, await response.read())
                events = _events(response)
                try:
                    yield events
                finally:
                    await events.aclose()

    async def click(
        self,
        sender: WidgetItem | str,
        component_id: str,
        *,
        thread: ThreadRef = None,
        headers: Mapping[str, str] | None = None,
    ) -> SyncCustomActionResponse | list[ThreadStreamEvent]:
        """Click a button: send the ``onClickAction`` of component ``component_id``.

        The widget is the sender as stored now (so a button an earlier action
        put there can be clicked); the action goes out sync or streaming as
        its ActionConfig says, so a mismatch with the handler fails here just
        as in the browser. Returns what :meth:`sync` or :meth:`stream` returns.

        Args:
            sender: the widget item (stored first if it is new; its thread as
                for :meth:`sync`), or its id.
            component_id: the ``id`` of the button (any component with an
                ``onClickAction``).
            thread: the sender's thread: a ``ThreadMetadata`` to store with a
                new sender, or the id to look a sender id up in (default:
                the client's thread).
            headers: extra HTTP headers (apps only).

        Raises:
            ActionFailed: the sender is not stored (404 ``item.not_found``), or
                the endpoint refused the action, as for :meth:`sync`.
        """
        item = await self._current(sender, thread)
        config = component(item.widget, component_id).get("onClickAction")
        if not isinstance(config, dict):
            raise AssertionError(f"component {component_id!r} of item {item.id!r} has no onClickAction")
        return await self._send_config(config, config.get("payload"), item, headers)

    async def submit_form(
        self,
        sender: WidgetItem | str,
        values: Mapping[str, Any],
        *,
        form_id: str | None = None,
        thread: ThreadRef = None,
        headers: Mapping[str, str] | None = None,
    ) -> SyncCustomActionResponse | list[ThreadStreamEvent]:
        """Fill in a ``Form`` and submit it: send its ``onSubmitAction``.

        As the ChatKit client does, each value goes into the action's payload
        under its input's ``name`` (``"todo.title"`` nests). Every name must be
        a named input inside the form (the first ``Form``, or ``form_id``).
        ``sender``, ``thread``, ``headers`` and the errors: as for :meth:`click`.
        """
        item = await self._current(sender, thread)
        form = component(item.widget, form_id) if form_id is not None else first_form(item.widget)
        config = form.get("onSubmitAction")
        if not isinstance(config, dict):
            raise AssertionError(f"the form in item {item.id!r} has no onSubmitAction")
        names = {node["name"] for node in descendants(form) if isinstance(node.get("name"), str)}
        payload = msgspec.json.decode(_encode(config.get("payload") or {}))
        for name, value in values.items():
            if name not in names:
                raise AssertionError(f"the form has no input named {name!r}; its inputs: {sorted(names)!r}")
            set_path(payload, name, value)
        return await self._send_config(config, payload, item, headers)

    def assert_widget_routed(self, widget: Any) -> None:
        """Fail, naming each one, if an action config in ``widget`` would be refused.

        Every server action (``onClickAction``, ``onSubmitAction``,
        ``onChangeAction``, a Card's confirm/cancel) must reach a handler of
        this client's router, with its ``streaming`` flag and a payload that
        validates (``ActionRouter.check_widget``). ``widget``: a widget root or
        a widget item.
        """
        problems = self.dispatcher.router.check_widget(widget)
        if problems:
            raise AssertionError("the widget's actions would be refused:\n" + "\n".join(problems))

    # ----------------------------------------------------------------- the store

    async def add_thread(self, thread: ThreadRef = None) -> ThreadMetadata:
        """Make sure ``thread`` (default: the client's thread) is stored; return it as stored."""
        meta = thread if isinstance(thread, ThreadMetadata) else make_thread(thread or self.thread_id)
        try:
            return await self.store.load_thread(meta.id, context=self.context)
        except NotFoundError:
            await self.store.save_thread(meta, context=self.context)
            return meta

    async def add_widget(
        self, widget: Any, *, thread: ThreadRef = None, id: str | None = None, copy_text: str | None = None
    ) -> WidgetItem:
        """Store a new widget item showing ``widget`` (a dict, chatkit widget or template build)."""
        meta = await self.add_thread(thread)
        item = make_widget_item(widget, thread=meta, id=id, copy_text=copy_text)
        await self.store.add_thread_item(meta.id, item, context=self.context)
        return item

    async def load_thread(self, thread: ThreadRef = None) -> ThreadMetadata:
        """The thread as stored now."""
        return await self.store.load_thread(self._thread_id(thread), context=self.context)

    async def load_item(self, item: WidgetItem | str, *, thread: ThreadRef = None) -> ThreadItem:
        """The item as stored now (pass the item, or its id and thread)."""
        if isinstance(item, WidgetItem):
            return await self.store.load_item(item.thread_id, item.id, context=self.context)
        return await self.store.load_item(self._thread_id(thread), item, context=self.context)

    async def widget(self, item: WidgetItem | str, *, thread: ThreadRef = None) -> WidgetRoot:
        """The widget the item shows as stored now (what a reload would show).

        A store read, not an action: an item that is not stored raises the
        store's ``NotFoundError`` (``thread``: where to look an item id up,
        default the client's thread).
        """
        stored = await self.load_item(item, thread=thread)
        if not isinstance(stored, WidgetItem):
            raise AssertionError(f"item {stored.id!r} is a {type(stored).__name__}, not a widget")
        return stored.widget

    async def items(self, thread: ThreadRef = None) -> list[ThreadItem]:
        """Every item of the thread, oldest first, hidden context included."""
        thread_id = self._thread_id(thread)
        items: list[ThreadItem] = []
        after: str | None = None
        while True:
            page = await self.store.load_thread_items(thread_id, after, 100, "asc", context=self.context)
            items.extend(page.data)
            if not page.has_more or page.after is None:
                return items
            after = page.after

    async def hidden_context(self, thread: ThreadRef = None) -> list[Any]:
        """The ``content`` of every hidden context item recorded in the thread."""
        return [item.content for item in await self.items(thread) if isinstance(item, HiddenContextItem)]

    # ----------------------------------------------------------------- internals

    async def _current(self, sender: WidgetItem | str, thread: ThreadRef) -> WidgetItem:
        """The sender as stored (stored first if it is a new item).

        A sender that is not there is refused as the endpoint refuses it:
        ``ActionFailed`` 404 ``item.not_found``.
        """
        if isinstance(sender, WidgetItem):
            await self._sender_thread(sender, thread)
            await self._add_item(sender)
        try:
            item = await self.load_item(sender, thread=thread)
        except NotFoundError:
            item_id = sender.id if isinstance(sender, WidgetItem) else sender
            thread_id = sender.thread_id if isinstance(sender, WidgetItem) else self._thread_id(thread)
            message = f"item {item_id!r} not found in thread {thread_id!r}"
            raise ActionFailed(404, error_body("item.not_found", message)) from None
        if not isinstance(item, WidgetItem):
            raise AssertionError(f"item {item.id!r} is a {type(item).__name__}, not a widget")
        return item

    async def _send_config(
        self, config: dict[str, Any], payload: Any, item: WidgetItem, headers: Mapping[str, str] | None
    ) -> SyncCustomActionResponse | list[ThreadStreamEvent]:
        if config.get("handler") == "client":
            raise AssertionError(f"action {config.get('type')!r} is handled in the browser (handler: client)")
        action_type = config.get("type")
        if not isinstance(action_type, str):
            raise AssertionError(f"ActionConfig without a type: {config!r}")
        if config.get("streaming", True) is False:
            return await self.sync(action_type, payload, sender=item, headers=headers)
        return await self.stream(action_type, payload, sender=item, headers=headers)

    def _thread_id(self, thread: ThreadRef) -> str:
        if isinstance(thread, ThreadMetadata):
            return thread.id
        return thread or self.thread_id

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {**self.headers, **(extra or {})}

    def _no_headers(self, headers: Mapping[str, str] | None) -> None:
        if headers:
            raise TypeError("headers= only apply to a Litestar app; a router gets its context from context=")

    def _check_started(self) -> None:
        if self._lifespan is None:
            raise RuntimeError(
                "use `async with ActionTestClient(app) as client:` so the app's lifespan "
                "(on_startup hooks, plugins) runs before requests are sent"
            )

    async def _body(
        self,
        kind: Literal["threads.sync_custom_action", "threads.custom_action"],
        action_type: str,
        payload: Any,
        sender: Sender,
        thread: ThreadRef,
        metadata: dict[str, Any] | None,
    ) -> bytes:
        """The request body a browser would send, after storing what it refers to."""
        if isinstance(sender, WidgetItem):
            if thread is not None and self._thread_id(thread) != sender.thread_id:
                raise ValueError(
                    f"sender {sender.id!r} belongs to thread {sender.thread_id!r}, not {self._thread_id(thread)!r}"
                )
            await self._sender_thread(sender, thread)
            await self._add_item(sender)
            thread_id: str = sender.thread_id
            item_id: str | None = sender.id
        else:
            if not isinstance(thread, str):  # a given id is sent as is: it may be missing on purpose
                await self.add_thread(thread)
            thread_id, item_id = self._thread_id(thread), sender
        action: dict[str, Any] = {"type": action_type}
        if payload is not None:
            action["payload"] = payload
        params: dict[str, Any] = {"thread_id": thread_id, "action": action}
        if item_id is not None:
            params["item_id"] = item_id
        request: dict[str, Any] = {"type": kind, "params": params}
        if metadata is not None:
            request["metadata"] = metadata
        return _encode(request)

    async def _sender_thread(self, sender: WidgetItem, thread: ThreadRef) -> None:
        """Make sure the sender's thread is stored, without inventing one the test did not ask for."""
        if isinstance(thread, ThreadMetadata):
            if thread.id != sender.thread_id:
                raise ValueError(
                    f"sender {sender.id!r} belongs to thread {sender.thread_id!r}, not {thread.id!r}"
                )
            await self.add_thread(thread)
            return
        try:
            await self.store.load_thread(sender.thread_id, context=self.context)
        except NotFoundError:
            if sender.thread_id != self.thread_id:
                raise ValueError(
                    f"sender {sender.id!r} belongs to thread {sender.thread_id!r}, which is not stored: "
                    f"pass thread=ThreadMetadata(id={sender.thread_id!r}, ...) (its title and metadata "
                    "are what handlers see) or store it first with client.add_thread(...)"
                ) from None
            await self.add_thread(sender.thread_id)  # the client's own thread: created on first use

    async def _add_item(self, item: WidgetItem) -> None:
        try:
            await self.store.load_item(item.thread_id, item.id, context=self.context)
        except NotFoundError:
            await self.store.add_thread_item(item.thread_id, item, context=self.context)


async def _events(chunks: AsyncIterator[bytes]) -> AsyncGenerator[ThreadStreamEvent, None]:
    parser = SSEParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    parser.close()


class _Typed(msgspec.Struct):
    type: Any = None


_decode_typed = msgspec.json.Decoder(_Typed).decode


def _error_event(body: bytes) -> ErrorEvent | None:
    """The body as a ChatKit error (``"type": "error"``), or ``None``."""
    try:
        if _decode_typed(body).type == "error":
            return msgspec.json.decode(body, type=ErrorEvent)
    except msgspec.MsgspecError:
        pass
    return None
