"""Testing support: send actions through the real dispatch path and check the results.

::

    from chatkit_handlers.testing import ActionTestClient, assert_widget_updated

    client = ActionTestClient(router)
    item = await client.add_widget(counter_card(0))
    response = await client.sync("counter.increment", {"by": 2}, sender=item)
    assert_widget_updated(response, counter_card(2))

With pytest, the ``action_client`` and ``memory_store`` fixtures are available
as soon as chatkit-handlers is installed (a ``pytest11`` plugin): define an
``action_router`` fixture returning your router (or Litestar app) and mark the
test ``@pytest.mark.anyio``.
"""

from __future__ import annotations

from ._assertions import (
    assert_client_effect,
    assert_error_event,
    assert_hidden_context,
    assert_notice,
    assert_widget_added,
    assert_widget_updated,
    event_types,
    find_events,
)
from ._builders import DEFAULT_THREAD_ID, make_action_context, make_thread, make_widget_item
from ._client import ActionFailed, ActionTestClient
from ._tree import component

__all__ = [
    "DEFAULT_THREAD_ID",
    "ActionFailed",
    "ActionTestClient",
    "assert_client_effect",
    "assert_error_event",
    "assert_hidden_context",
    "assert_notice",
    "assert_widget_added",
    "assert_widget_updated",
    "component",
    "event_types",
    "find_events",
    "make_action_context",
    "make_thread",
    "make_widget_item",
]
