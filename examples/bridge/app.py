"""One endpoint for the whole ChatKit protocol: ``litestar --app examples.bridge.app:app run``.

Widget actions take chatkit-handlers' fast path; messages, thread listing and
history go to the ChatKitServer. Both read and write the server's own store.
"""

from __future__ import annotations

from litestar import Litestar

from chatkit_handlers.litestar import ChatKitPlugin
from examples.bridge.server import PollServer, router
from examples.bridge.store import MemoryChatKitStore

server = PollServer(store=MemoryChatKitStore())
app = Litestar(plugins=[ChatKitPlugin(router, server=server, path="/chatkit")])
