"""Moving actions to handlers one at a time: actions the router does not know go to the
server's own ``action()``/``sync_action()``, in both modes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from chatkit import types as ck
from chatkit.actions import Action
from chatkit.server import ChatKitServer
from conformance_app import (
    CONTEXT,
    THREAD,
    action_request,
    check_stream,
    check_sync,
    router,
    seeded_store,
    shape,
)
from litestar import Litestar
from litestar.testing import AsyncTestClient

from chatkit_handlers.bridge import RoutedActions
from chatkit_handlers.litestar import ChatKitPlugin

pytestmark = pytest.mark.anyio


class Legacy(ChatKitServer[Any]):
    """A server from before chatkit-handlers: actions in one method."""

    async def respond(self, thread: Any, input_user_message: Any, context: Any) -> AsyncIterator[Any]:
        yield ck.ProgressUpdateEvent(text="respond")

    async def action(
        self, thread: ck.ThreadMetadata, action: Action[str, Any], sender: Any, context: Any
    ) -> AsyncIterator[Any]:
        yield ck.NoticeEvent(level="info", message=f"legacy {action.type}")


class Migrating(RoutedActions, Legacy):
    """Half-way: the router first, the old method for the rest."""

    actions = router

    async def action(
        self, thread: ck.ThreadMetadata, action: Action[str, Any], sender: Any, context: Any
    ) -> AsyncIterator[Any]:
        if action.type in self.actions:
            events = super().action(thread, action, sender, context)  # the router
        else:
            events = Legacy.action(self, thread, action, sender, context)  # the old code
        async for event in events:
            yield event


@pytest.mark.parametrize("server_class", [Legacy, Migrating])
async def test_unknown_actions_go_to_the_server(server_class: type[ChatKitServer[Any]]) -> None:
    server = server_class(await seeded_store())
    app = Litestar(plugins=[ChatKitPlugin(router, server=server, context=lambda request: CONTEXT)])
    async with AsyncTestClient(app) as client:
        old = await client.post("/chatkit", content=action_request("shop.legacy"))
        new = await client.post("/chatkit", content=action_request("conf.noop", sync=True))
        # Legacy implements no sync_action: an unknown sync action stays a 404 on the fast path.
        unknown_sync = await client.post("/chatkit", content=action_request("shop.legacy", sync=True))
    assert shape(check_stream(old.content)) == ["stream_options", "notice"]
    assert check_stream(old.content)[-1]["message"] == "legacy shop.legacy"
    assert check_sync(new.content) == {}
    assert (unknown_sync.status_code, unknown_sync.json()["code"]) == (404, "action.unknown")
    if server_class is Migrating:  # the bridge sends the router's actions through the handlers
        result = await server.process(action_request("conf.hidden"), CONTEXT)
        assert shape(check_stream(b"".join([chunk async for chunk in result]))) == ["stream_options"]
        assert any(item.type == "hidden_context_item" for item in server.store.items[THREAD])
