"""The counter example answers both dispatch modes over HTTP."""

from __future__ import annotations

import msgspec
from litestar.testing import TestClient

from examples.counter.app import app


def test_counter_sync_and_stream() -> None:
    with TestClient(app) as client:
        body = {
            "type": "threads.sync_custom_action",
            "params": {
                "thread_id": "thr_demo",
                "item_id": "wid_counter",
                "action": {"type": "counter.increment", "payload": {"by": 2}},
            },
        }
        response = client.post("/chatkit", content=msgspec.json.encode(body))
        assert response.status_code == 200
        assert response.json()["updated_item"]["widget"]["children"][0]["value"] == "2"

        body["type"] = "threads.custom_action"
        body["params"]["action"] = {"type": "counter.reset"}  # type: ignore[index]
        response = client.post("/chatkit", content=msgspec.json.encode(body))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.text.startswith('data: {"type":"stream_options","stream_options":{"allow_cancel":true}}\n\n')
