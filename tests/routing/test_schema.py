"""Schemas: router.json_schema(), the OpenAPI operation in a Litestar app, TypeScript, the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest
from litestar import Litestar, get
from litestar.openapi import OpenAPIConfig
from litestar.testing import TestClient

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.__main__ import main
from chatkit_handlers.litestar import ChatKitPlugin
from chatkit_handlers.stores import MemoryStore

ROOT = Path(__file__).resolve().parents[2]


class Line(msgspec.Struct):
    """One line of an order."""

    sku: str
    qty: int = 1


class Checkout(msgspec.Struct, forbid_unknown_fields=True):
    lines: list[Line]
    note: str | None = None
    speed: Literal["standard", "express"] = "standard"


def shop_router() -> ActionRouter:
    router = ActionRouter(prefix="shop.")

    @router.on_action("checkout", streaming=False, description="Pay for the cart")
    async def checkout(payload: Checkout) -> None: ...

    @router.on_action("cart.clear")
    async def clear(ctx: ActionContext[Any]) -> AsyncIterator[Any]:
        yield ctx.progress("x")

    @router.on_action("cart.add", streaming=False)
    async def add(payload: Line) -> None: ...

    @router.on_action("admin.*", streaming=False)
    async def admin() -> None: ...

    @router.on_action(re.compile(r"item\.(?P<sku>\w+)"), streaming=False)
    async def item_action(sku: str, payload: Line) -> None: ...

    @router.on_action(re.compile(r"legacy[0-9]+"), streaming=False)
    async def legacy() -> None: ...

    return router


def test_json_schema_is_keyed_by_action_type() -> None:
    schema = shop_router().json_schema()
    assert list(schema) == [
        "shop.checkout",
        "shop.cart.clear",
        "shop.cart.add",
        "shop.admin.*",
        r"shop.item\.(?P<sku>\w+)",
        "shop.legacy[0-9]+",
    ]
    checkout = schema["shop.checkout"]
    assert checkout["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert checkout["title"] == "shop.checkout"
    assert checkout["description"] == "Pay for the cart"
    assert checkout["x-chatkit-mode"] == "sync"
    assert checkout["$ref"] == "#/$defs/Checkout"
    assert set(checkout["$defs"]) == {"Checkout", "Line"}  # only what it needs
    assert checkout["$defs"]["Checkout"]["required"] == ["lines"]
    assert checkout["$defs"]["Checkout"]["additionalProperties"] is False
    clear = schema["shop.cart.clear"]
    assert clear["x-chatkit-mode"] == "streaming"
    assert "$defs" not in clear
    assert {"type": "null"} in clear["anyOf"]
    assert set(schema[r"shop.item\.(?P<sku>\w+)"]["$defs"]) == {"Line"}


def test_typescript_declarations() -> None:
    ts = shop_router().typescript()
    assert "export interface Line {\n  sku: string;\n  qty?: number;\n}" in ts
    assert "  lines: Line[];" in ts
    assert "  note?: string | null;" in ts
    assert '  speed?: "express" | "standard";' in ts
    assert 'export interface ShopCheckoutAction {\n  type: "shop.checkout";\n  payload: Checkout;\n}' in ts
    assert 'export interface ShopCartClearAction {\n  type: "shop.cart.clear";\n  payload?: null;\n}' in ts
    assert "  type: `shop.admin.${string}`;" in ts
    # A regular expression of literal text and groups becomes a template literal type.
    assert "export interface ItemActionAction {\n  type: `shop.item.${string}`;\n  payload: Line;\n}" in ts
    assert "export interface LegacyAction {\n  type: string;\n  payload?: null;\n}" in ts
    assert " * Pay for the cart\n * Sync action: set `streaming: false` in the widget's ActionConfig." in ts
    assert (
        "export type Action = ShopCheckoutAction | ShopCartClearAction | ShopCartAddAction"
        " | ShopAdminAnyAction | ItemActionAction | LegacyAction;" in ts
    )
    assert (
        'export interface ActionPayloads {\n  "shop.checkout": Checkout;\n  "shop.cart.clear": null;\n'
        '  "shop.cart.add": Line;\n}' in ts
    )


def _app(router: ActionRouter, **kwargs: Any) -> Litestar:
    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([health], plugins=[ChatKitPlugin(router, store=MemoryStore(), **kwargs)])


def test_openapi_documents_the_endpoint_with_a_discriminated_union() -> None:
    with TestClient(_app(shop_router(), path="/api/chatkit")) as client:
        document = client.get("/schema/openapi.json").json()
    assert "/health" in document["paths"]  # the app's own routes are untouched
    operation = document["paths"]["/api/chatkit"]["post"]
    assert operation["operationId"] == "chatkitActions"
    assert "`shop.checkout` (sync): Pay for the cart" in operation["description"]
    assert "`shop.admin.*` (sync, pattern)" in operation["description"]
    schemas = document["components"]["schemas"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    # Envelopes discriminated by their type...
    assert body["discriminator"]["mapping"] == {
        "threads.custom_action": "#/components/schemas/ChatKitCustomActionRequest",
        "threads.sync_custom_action": "#/components/schemas/ChatKitSyncCustomActionRequest",
    }
    # ...each holding the union of its actions, discriminated by the action type.
    sync_params = schemas["ChatKitSyncCustomActionRequestParams"]["properties"]["action"]
    assert sync_params["discriminator"] == {
        "propertyName": "type",
        "mapping": {
            "shop.cart.add": "#/components/schemas/ShopCartAddAction",
            "shop.checkout": "#/components/schemas/ShopCheckoutAction",
        },
    }
    stream_params = schemas["ChatKitCustomActionRequestParams"]["properties"]["action"]
    assert stream_params["$ref"] == "#/components/schemas/ShopCartClearAction"
    checkout = schemas["ShopCheckoutAction"]
    assert checkout["properties"]["payload"] == {"$ref": "#/components/schemas/Checkout"}
    assert schemas["Checkout"]["properties"]["lines"]["items"] == {"$ref": "#/components/schemas/Line"}
    assert operation["responses"]["4XX"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEvent"
    }


def test_openapi_reflects_routes_added_after_app_creation_and_can_be_disabled() -> None:
    router = ActionRouter()
    app = _app(router)

    @router.on_action("late", streaming=False)
    async def late() -> None: ...

    with TestClient(app) as client:
        document = client.get("/schema/openapi.json").json()
    action = document["components"]["schemas"]["ChatKitSyncCustomActionRequestParams"]["properties"]["action"]
    assert action == {"$ref": "#/components/schemas/LateAction"}

    with TestClient(_app(shop_router(), include_in_schema=False)) as client:
        assert "/chatkit" not in client.get("/schema/openapi.json").json()["paths"]
    hidden = Litestar(plugins=[ChatKitPlugin(shop_router(), store=MemoryStore())], openapi_config=None)
    with TestClient(hidden) as client:
        assert client.get("/schema/openapi.json").status_code == 404


def test_openapi_with_a_custom_config_and_two_endpoints() -> None:
    other = ActionRouter()

    @other.on_action("ping", streaming=False)
    async def ping() -> None: ...

    config = OpenAPIConfig(title="Shop", version="2.0")
    app = Litestar(
        plugins=[
            ChatKitPlugin(shop_router(), store=MemoryStore(), path="/a"),
            ChatKitPlugin(other, store=MemoryStore(), path="/b"),
        ],
        openapi_config=config,
    )
    document = app.openapi_schema.to_schema()
    assert document["info"]["title"] == "Shop"
    assert {"/a", "/b"} <= set(document["paths"])
    assert not config.to_openapi_schema().to_schema().get("paths")  # the app's config is not modified


# ------------------------------------------------------------------ CLI


def test_cli_routes_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "examples.counter.app:router"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["TYPE", "MODE", "PAYLOAD", "HANDLER", "GUARDS", "TIMEOUT", "DESCRIPTION"]
    assert out[1].split()[:4] == [
        "counter.increment",
        "sync",
        "Increment",
        "examples.counter.handlers.increment",
    ]
    assert out[2].split()[:4] == ["counter.reset", "streaming", "-", "examples.counter.handlers.reset"]
    assert out[-1] == "2 route(s)"
    # The app (or the plugin) works as a target too.
    assert main(["routes", "examples.counter.app:app"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == out[1:]


def test_cli_schema_and_typescript_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "actions.d.ts"
    assert main(["typescript", "examples.counter.app:router", "-o", str(target)]) == 0
    text = target.read_text()
    assert text.startswith("// TypeScript declarations of ChatKit action payloads")
    assert "python -m chatkit_handlers typescript examples.counter.app:router" in text
    assert 'type: "counter.increment";' in text
    assert main(["schema", "examples.counter.app:router"]) == 0
    schema = msgspec.json.decode(capsys.readouterr().out)
    assert schema["counter.increment"]["$defs"]["Increment"]["properties"]["by"] == {
        "type": "integer",
        "default": 1,
    }


def test_cli_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "examples.counter.app"]) == 2
    assert "must look like module:attribute" in capsys.readouterr().err
    assert main(["routes", "examples.nowhere:router"]) == 2
    assert "cannot import 'examples.nowhere'" in capsys.readouterr().err
    assert main(["routes", "examples.counter.app:nothing"]) == 2
    assert "has no attribute 'nothing'" in capsys.readouterr().err
    assert main(["routes", "examples.counter.app:store"]) == 2
    assert "is a SQLiteStore, not an ActionRouter" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chatkit_handlers", "routes", "examples.counter.app:router"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "counter.reset" in done.stdout
