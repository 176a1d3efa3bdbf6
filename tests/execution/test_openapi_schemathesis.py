"""Schemathesis against the app's OpenAPI document: every answer is a documented one.

The endpoint's operation lists its answers: the sync response, the SSE stream, and the
error body for every 4xx. Schemathesis generates requests from the document (valid ones,
and, with its negative mode, invalid ones) and checks that the app never answers a 5xx and
that each answer's status, content type and body are the ones documented.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chatkit_handlers import ActionRouter
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore
from examples.counter import handlers as counter_handlers

router = ActionRouter()
router.include(counter_handlers)
app = Litestar(plugins=[ChatKitPlugin(router, store=MemoryStore(), lock_timeout=1)])

schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.include(path="/chatkit").parametrize()
@settings(
    max_examples=int(os.environ.get("CHATKIT_FUZZ_EXAMPLES", "100")),
    deadline=None,
    derandomize=os.environ.get("CI") is not None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
