"""``order.*``: every order action needs a signed-in user; refunds need an admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec

from chatkit_handlers import ActionContext, ActionRouter
from chatkit_handlers.types import ThreadStreamEvent

from ..auth import require_role, signed_in
from ..domain import User

router = ActionRouter(prefix="order.", guards=[signed_in])


class Refund(msgspec.Struct, forbid_unknown_fields=True):
    """A refund request: validated before any guard or handler sees it."""

    order: Annotated[str, msgspec.Meta(pattern=r"^ord_[0-9]+$")]
    amount: Annotated[int, msgspec.Meta(gt=0, le=1000)]


class Track(msgspec.Struct):
    order: str


@router.on_action("refund", streaming=False, guards=[require_role("admin")], timeout=5)
async def refund(payload: Refund, ctx: ActionContext[Any], user: User) -> None:
    """Refund part of an order (admins only)."""
    refunds: list[dict[str, Any]] = ctx.thread.metadata.setdefault("refunds", [])
    refunds.append({"order": payload.order, "amount": payload.amount, "by": user.name})


@router.on_action("track", timeout=10, description="Stream where an order is")
async def track(payload: Track, ctx: ActionContext[Any], user: User) -> AsyncIterator[ThreadStreamEvent]:
    yield ctx.progress(f"Looking up {payload.order}…")
    yield ctx.message(f"{user.name}, order {payload.order} is on its way.")
