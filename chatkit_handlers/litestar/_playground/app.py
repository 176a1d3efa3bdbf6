"""``Playground``: the page, its files and its JSON API, all under one mounted path.

Litestar hands a mount everything under its path, so every request there is
answered here: one the playground does not know gets the endpoint's JSON error
shape (``{"type": "error", "code": ..., "message": ..., "allow_retry": ...}``),
not Litestar's. The JSON API the page reads:

``GET {path}/api/threads?order=desc&limit=50&after=<thread id>``
    a page of the threads the request's context may see (``Store.load_threads``)
``POST {path}/api/threads`` with ``{"widget": {...}, "title": "..."}``
    a fresh thread holding that widget: 201 ``{"thread": ..., "item": ...}``
``GET {path}/api/threads/<thread id>``
    ``{"thread": ..., "items": [...], "has_more": ..., "problems": {item id: [...]}}``:
    the thread's items in order, hidden context included (the model sees it),
    and for each widget the action configs the router would refuse
``GET {path}/api/templates``
    the app's ``.widget`` templates (``playground_templates=``): name, file, sample data, schema
``POST {path}/api/templates/render`` with ``{"name": ..., "data": {...}}``
    ``{"widget": ...}``, or 422 ``template.invalid`` saying what is wrong with the data

Threads are sent without their ``metadata``, as chatkit sends them to its
client: metadata is server-side and may hold what the page must not show.
"""

from __future__ import annotations

import functools
import html
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias
from urllib.parse import parse_qs

import msgspec
from litestar.enums import ScopeType
from litestar.types import HTTPScope, Receive, Scope, Send, WebSocketCloseEvent

from ..._execution.asgi import send_json
from ..._execution.request import read_body
from ..._wire.encode import encode, error_body
from ...errors import DispatchError, NotFoundError, RegistrationError, StoreUnavailableError, TemplateError
from ...stores import Store
from ...types import Page, ThreadItem, ThreadMetadata, WidgetItem, new_id
from .._body import body_read_before

if TYPE_CHECKING:
    from ...templates import WidgetTemplate

__all__ = ["Playground", "TemplateSource", "load_templates", "playground_path"]

logger = logging.getLogger("chatkit_handlers")

ContextOf = Callable[[Scope, Receive, bytes], Awaitable[Any]]
"""Derives the request context as the endpoint does, from the scope, ``receive`` and the body read."""

CheckWidget = Callable[[Any], list[str]]
"""``ActionRouter.check_widget``: the action configs of a widget the router would refuse."""

ROOT_TYPES = ("Card", "ListView", "Basic")
"""The widget types ChatKit renders as the root of a widget item."""

MAX_ITEMS = 1000
"""The most items of one thread the page is sent (``has_more`` says when there are more)."""

_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "render.js": "text/javascript; charset=utf-8",
    "markdown.js": "text/javascript; charset=utf-8",
    "events.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
    "gallery.json": "application/json",
}
"""The files the page loads from ``{path}/static/``: nothing else is served from the package."""

# The page builds its DOM with createElement/textContent and loads nothing from elsewhere: a
# strict policy makes an injection bug harmless, and widget images may come from any http(s) host.
_PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src http: https: data:; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_FILE_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-cache")]
_NO_STORE = [(b"cache-control", b"no-store")]


TemplateSource: TypeAlias = "WidgetTemplate | str | os.PathLike[str]"
"""A template for the playground: a ``WidgetTemplate``, a ``.widget`` file, or a folder of them."""


def load_templates(sources: Sequence[TemplateSource]) -> list[WidgetTemplate]:
    """The templates ``sources`` name, read now (a bad one fails the app's start, not a request)."""
    if not sources:
        return []
    from ...templates import WidgetTemplate  # jinja2 and jsonschema only for apps that use templates

    loaded: list[WidgetTemplate] = []
    for source in sources:
        if isinstance(source, WidgetTemplate):
            loaded.append(source)
            continue
        path = Path(source)
        files = sorted(path.glob("*.widget")) if path.is_dir() else [path]
        if not files:
            raise RegistrationError(f"playground_templates: {os.fspath(path)!r} holds no .widget file")
        for file in files:
            try:
                loaded.append(WidgetTemplate.from_file(file))
            except OSError as exc:
                raise RegistrationError(
                    f"playground_templates: cannot read {os.fspath(file)!r}: {exc.strerror}"
                ) from None
    names = [template.name for template in loaded]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise RegistrationError(f"playground_templates: more than one template is named {twice[0]!r}")
    return loaded


def playground_path(endpoint: str, playground: bool | str) -> str | None:
    """Where the playground is served: ``None`` when off, ``{endpoint}/playground`` for ``True``."""
    if playground is False:
        return None
    if playground is True:
        return endpoint.rstrip("/") + "/playground"
    if not isinstance(playground, str) or not playground.startswith("/") or playground.rstrip("/") == "":
        raise RegistrationError(
            f"playground= takes True, False or a path such as '/dev/playground', got {playground!r}"
        )
    path = playground.rstrip("/")
    if path == endpoint.rstrip("/"):
        raise RegistrationError(f"playground= {playground!r} is the endpoint's own path; choose another")
    return path


class _NewThread(msgspec.Struct, forbid_unknown_fields=True):
    """``POST {path}/api/threads``: the widget to try, in a thread of its own."""

    widget: dict[str, Any]
    title: str | None = None


class _Render(msgspec.Struct, forbid_unknown_fields=True):
    """``POST {path}/api/templates/render``: a template's name, and the data to render it with."""

    name: str
    data: Any = None


class _Template(msgspec.Struct):
    name: str
    file: str | None
    sample_data: dict[str, Any] | None
    schema: dict[str, Any]


class _Templates(msgspec.Struct):
    data: list[_Template]


class _Rendered(msgspec.Struct):
    widget: dict[str, Any]


class _ThreadDetail(msgspec.Struct):
    thread: ThreadMetadata
    items: list[ThreadItem]
    has_more: bool
    problems: dict[str, list[str]]


class _Created(msgspec.Struct):
    thread: ThreadMetadata
    item: WidgetItem


_decode_new_thread = msgspec.json.Decoder(_NewThread).decode
_decode_render = msgspec.json.Decoder(_Render).decode


@functools.cache
def _package_files() -> dict[str, bytes]:
    """``index.html`` and every file of ``_FILES``, read from the package once."""
    folder = resources.files(__package__)
    return {name: folder.joinpath(name).read_bytes() for name in ("index.html", *_FILES)}


class Playground:
    """The ASGI app mounted at the playground's path (``ChatKitPlugin`` builds it).

    Args:
        path: where it is mounted (``/chatkit/playground``).
        endpoint: the ChatKit endpoint's path, where the page sends actions.
        store: the plugin's store, called with each request's context.
        context: derives that context as the endpoint does.
        max_body_size: the largest widget the page may post.
        check_widget: lists the action configs of a widget the router would
            refuse; ``None`` when another server answers what the router does not.
        templates: the app's widget templates, offered under "Try a widget".
    """

    __slots__ = (
        "_check_widget",
        "_context",
        "_files",
        "_max_body_size",
        "_store",
        "_templates",
        "_templates_listed",
        "endpoint",
        "path",
    )

    def __init__(
        self,
        *,
        path: str,
        endpoint: str,
        store: Store,
        context: ContextOf,
        max_body_size: int,
        check_widget: CheckWidget | None,
        templates: Sequence[WidgetTemplate] = (),
    ) -> None:
        self.path = path
        self.endpoint = endpoint
        self._store = store
        self._context = context
        self._max_body_size = max_body_size
        self._check_widget = check_widget
        self._templates = {template.name: template for template in templates}
        self._templates_listed = _listing(templates)
        self._files = _package_files()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:  # a websocket: nothing here speaks it
            await send(WebSocketCloseEvent(type="websocket.close", code=1003, reason="HTTP only"))
            return
        try:
            await self._answer(scope, receive, send)
        except (DispatchError, NotFoundError, StoreUnavailableError) as exc:
            refusal = _refusal(exc)
            extra = [(b"allow", exc.allow.encode())] if isinstance(exc, _WrongMethod) else []
            body = error_body(refusal.code, refusal.message, allow_retry=refusal.allow_retry)
            await send_json(send, refusal.status_code, body, extra=_NO_STORE + extra)

    async def _answer(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        sub = scope["path"]  # what follows the mount's path; Litestar ends it with "/"
        if sub == "/":
            _allow(method, "GET")
            await self._send(send, 200, self._page(scope), "text/html; charset=utf-8", _PAGE_HEADERS)
        elif sub.startswith("/static/") and sub[8:-1] in _FILES:
            _allow(method, "GET")
            name = sub[8:-1]
            await self._send(send, 200, self._files[name], _FILES[name], _FILE_HEADERS)
        elif sub == "/api/threads/":
            _allow(method, "GET", "POST")
            if method == "GET":
                answer = await self._threads(scope, receive)
                await send_json(send, 200, answer, extra=_NO_STORE)
            else:
                body = body_read_before(scope)
                if body is None:
                    body = await read_body(scope, receive, self._max_body_size)
                answer = await self._create(body, await self._context(scope, receive, body))
                await send_json(send, 201, answer, extra=_NO_STORE)
        elif sub == "/api/templates/":
            _allow(method, "GET")
            await send_json(send, 200, self._templates_listed, extra=_NO_STORE)
        elif sub == "/api/templates/render/":
            _allow(method, "POST")
            body = body_read_before(scope)
            if body is None:
                body = await read_body(scope, receive, self._max_body_size)
            await send_json(send, 200, self._render(body), extra=_NO_STORE)
        elif sub.startswith("/api/threads/"):
            _allow(method, "GET")
            context = await self._context(scope, receive, b"")
            await send_json(send, 200, await self._thread(sub[13:-1], context), extra=_NO_STORE)
        else:
            raise DispatchError(
                404, "request.not_found", f"the playground has nothing at {(self.path + sub).rstrip('/')!r}"
            )

    def _page(self, scope: Scope) -> bytes:
        root = scope.get("root_path", "")
        page = self._files["index.html"].decode()
        page = page.replace("%BASE%", html.escape(root + self.path)).replace(
            "%ENDPOINT%", html.escape(root + self.endpoint)
        )
        return page.encode()

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, content_type: str, extra: list[Any]) -> None:
        headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body)), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    # ----------------------------------------------------------------- the JSON API

    async def _threads(self, scope: Scope, receive: Receive) -> bytes:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        order = _one(query, "order", "desc")
        if order not in ("asc", "desc"):
            raise DispatchError(400, "request.invalid", f"order must be 'asc' or 'desc', got {order!r}")
        limit = _one(query, "limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise DispatchError(
                400, "request.invalid", f"limit must be a whole number from 1 to 100, got {limit!r}"
            )
        after = query["after"][0] if "after" in query else None
        context = await self._context(scope, receive, b"")
        direction: Literal["asc", "desc"] = "asc" if order == "asc" else "desc"
        page = await self._store.load_threads(int(limit), after, direction, context=context)
        shown = Page(data=[_shown(thread) for thread in page.data], has_more=page.has_more, after=page.after)
        return encode(shown)

    async def _thread(self, thread_id: str, context: Any) -> bytes:
        store = self._store
        thread = await store.load_thread(thread_id, context=context)
        items: list[ThreadItem] = []
        after: str | None = None
        while True:
            limit = min(100, MAX_ITEMS - len(items))
            page = await store.load_thread_items(thread_id, after, limit, "asc", context=context)
            items += page.data
            after = page.after
            if not page.has_more or not page.data or len(items) >= MAX_ITEMS:
                break
        problems: dict[str, list[str]] = {}
        if self._check_widget is not None:
            for item in items:
                if isinstance(item, WidgetItem):
                    found = self._check_widget(item.widget)
                    if found:
                        problems[item.id] = found
        detail = _ThreadDetail(thread=_shown(thread), items=items, has_more=page.has_more, problems=problems)
        return encode(detail)

    def _render(self, body: bytes) -> bytes:
        try:
            request = _decode_render(body)
        except msgspec.DecodeError as exc:
            kind = "invalid" if isinstance(exc, msgspec.ValidationError) else "malformed"
            raise DispatchError(400, f"request.{kind}", f"the template to render: {exc}") from None
        template = self._templates.get(request.name)
        if template is None:
            known = ", ".join(repr(name) for name in self._templates) or "none"
            raise DispatchError(
                404, "template.not_found", f"no template {request.name!r} (the app has {known})"
            )
        try:
            return encode(_Rendered(widget=template.render(request.data)))
        except TemplateError as exc:
            raise DispatchError(422, "template.invalid", str(exc)) from None

    async def _create(self, body: bytes, context: Any) -> bytes:
        try:
            request = _decode_new_thread(body)
        except msgspec.DecodeError as exc:
            kind = "invalid" if isinstance(exc, msgspec.ValidationError) else "malformed"
            raise DispatchError(400, f"request.{kind}", f"the widget to try: {exc}") from None
        root = request.widget.get("type")
        if root not in ROOT_TYPES:
            raise DispatchError(
                400,
                "request.invalid",
                f"a widget's root must be a Card, ListView or Basic, not {root!r}; wrap it in one",
            )
        title = request.title or f"Playground: {root}"
        thread = ThreadMetadata(id=new_id("thr"), title=title)
        item = WidgetItem(id=new_id("wid"), thread_id=thread.id, widget=request.widget)
        async with self._store.transaction(context=context) as store:
            await store.save_thread(thread, context=context)
            await store.add_thread_item(thread.id, item, context=context)
        return encode(_Created(thread=_shown(thread), item=item))


def _listing(templates: Sequence[WidgetTemplate]) -> bytes:
    """``GET {path}/api/templates``: the same answer each time, made once."""
    listed = [
        _Template(
            name=template.name,
            # the file's name only: where the app lives on the server is none of the page's business
            file=os.path.basename(template.origin) if template.origin else None,
            sample_data=template.sample_data,
            schema=template.schema,
        )
        for template in templates
    ]
    return encode(_Templates(data=listed))


class _WrongMethod(DispatchError):
    def __init__(self, allow: str) -> None:
        super().__init__(405, "request.method", f"use {' or '.join(allow.split(', '))}")
        self.allow = allow


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise _WrongMethod(", ".join(allowed))


def _one(query: dict[str, list[str]], name: str, default: str) -> str:
    return query[name][0] if name in query else default


def _shown(thread: ThreadMetadata) -> ThreadMetadata:
    """The thread as its client sees it: without the server-side ``metadata``."""
    return msgspec.structs.replace(thread, metadata={})


def _refusal(exc: Exception) -> DispatchError:
    """What a refused request answers; a store's refusals as the endpoint answers them (404, 503)."""
    if isinstance(exc, NotFoundError):
        return DispatchError(404, "thread.not_found", str(exc) or "thread not found")
    if isinstance(exc, StoreUnavailableError):
        logger.warning("store unavailable in the playground: %s", exc, exc_info=exc)
        return DispatchError(
            503, "store.unavailable", "the store is unavailable right now; try again", allow_retry=True
        )
    assert isinstance(exc, DispatchError)
    return exc
