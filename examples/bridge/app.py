"""One endpoint for the whole ChatKit protocol: ``litestar --app examples.bridge.app:app run``.

Widget actions take chatkit-handlers' fast path; messages, thread listing and
history go to the ChatKitServer. Both read and write the server's own store.
The widget playground (a development page) is at ``/chatkit/playground``, with
the poll's ``.widget`` template under "Try a widget".
"""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from chatkit_handlers.litestar import ChatKitPlugin
from examples.bridge.server import PollServer, router
from examples.bridge.store import MemoryChatKitStore

server = PollServer(store=MemoryChatKitStore())
plugin = ChatKitPlugin(
    router,
    server=server,
    path="/chatkit",
    playground=True,
    playground_templates=[Path(__file__).parent / "poll.widget"],
)
app = Litestar(plugins=[plugin])
