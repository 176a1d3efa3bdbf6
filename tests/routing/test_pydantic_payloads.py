"""Payloads annotated with a pydantic model, as ChatKit apps already write them."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pydantic import BaseModel, Field
from routing_support import body, seeded_store

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.litestar import ChatKitPlugin

pytestmark = pytest.mark.anyio


class Passenger(BaseModel):
    name: str
    seat: str | None = None


class SetMealPreference(BaseModel):
    """As customer-support's sample declares it."""

    meal: str = Field(pattern="^(vegetarian|kosher|standard)$")
    passengers: list[Passenger] = []


router = ActionRouter()
seen: list[Any] = []


@router.on_action("support.set_meal_preference", streaming=False)
async def set_meal(payload: SetMealPreference, ctx: ActionContext[Any]) -> None:
    seen.append(payload)


@router.on_action("support.annotated", streaming=False)
async def annotated(preference: SetMealPreference) -> None:  # not named payload: a model is one
    seen.append(preference)


async def post(client: AsyncTestClient[Litestar], action_type: str, payload: Any) -> Any:
    return await client.post("/chatkit", content=body(action_type, payload, streaming=False))


async def test_a_pydantic_payload_is_validated_and_handed_over_as_the_model() -> None:
    seen.clear()
    app = Litestar(plugins=[ChatKitPlugin(router, store=await seeded_store())])
    async with AsyncTestClient(app) as client:
        ok = await post(
            client, "support.set_meal_preference", {"meal": "kosher", "passengers": [{"name": "Ada"}]}
        )
        assert ok.status_code == 200, ok.text
        again = await post(client, "support.annotated", {"meal": "standard"})
        assert again.status_code == 200, again.text
        bad = await post(client, "support.set_meal_preference", {"meal": "pizza"})
        nested = await post(
            client, "support.set_meal_preference", {"meal": "kosher", "passengers": [{"seat": 1}]}
        )
        malformed = await client.post(
            "/chatkit",
            content=body("support.set_meal_preference", None, streaming=False).replace(
                b"null", b'{"meal":"\xff"}'
            ),
        )
    assert isinstance(seen[0], SetMealPreference)
    assert seen[0].passengers[0].name == "Ada"
    assert seen[1].meal == "standard"
    assert bad.status_code == 422
    assert bad.json()["code"] == "payload.invalid"
    assert bad.json()["message"].endswith("- at `$.meal`")
    assert nested.status_code == 422
    assert "- at `$.passengers[0].name`" in nested.json()["message"]
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "request.malformed"


class Defaults(BaseModel):
    n: int = 3


async def test_an_absent_payload_means_the_models_defaults() -> None:
    local = ActionRouter()
    got: list[Any] = []

    @local.on_action("d.sync", streaming=False)
    async def handler(payload: Defaults) -> None:
        got.append(payload.n)

    app = Litestar(plugins=[ChatKitPlugin(local, store=await seeded_store())])
    async with AsyncTestClient(app) as client:
        assert (await post(client, "d.sync", None)).status_code == 200
    assert got == [3]


def test_schemas_and_typescript_describe_pydantic_payloads() -> None:
    schema = router.json_schema()
    text = msgspec.json.encode(schema).decode()
    assert "SetMealPreference" in text
    assert "Passenger" in text  # the nested model, as a component
    assert "vegetarian" in text  # the field's pattern
    from chatkit_handlers._routing.schema import openapi_operation, typescript

    _, components = openapi_operation(router.routes())
    assert "Passenger" in components
    assert "#/components/schemas/Passenger" in msgspec.json.encode(components).decode()
    ts = typescript(router.routes())
    assert "meal: string" in ts
