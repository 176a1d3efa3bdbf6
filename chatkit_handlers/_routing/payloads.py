"""How a route validates its payload: msgspec's decoder, or pydantic's for a pydantic model.

msgspec Structs (and dataclasses, ``TypedDict`` and plain types, which msgspec
reads too) are the fast path: one ``msgspec.json.Decoder``, built once. A
payload annotated with a pydantic ``BaseModel`` (what ChatKit apps already
have) is validated by a ``pydantic.TypeAdapter`` built once, at registration;
its errors read as msgspec's (``... - at `$.field```), so a client gets the same
422 ``payload.invalid`` either way. pydantic is imported only for such payloads.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

__all__ = ["PayloadDecoder", "is_pydantic_model", "payload_decoder", "pydantic_schema"]

_NULL = b"null"


class PayloadDecoder(Protocol):
    """Decodes a payload's JSON; raises ``msgspec.ValidationError`` naming the field that is wrong."""

    @property
    def type(self) -> Any:
        """The payload type."""

    def decode(self, raw: bytes | msgspec.Raw) -> Any: ...


def is_pydantic_model(annotation: Any) -> bool:
    """Whether ``annotation`` is a pydantic model class (told without importing pydantic)."""
    return (
        isinstance(annotation, type)
        and hasattr(annotation, "model_validate_json")
        and hasattr(annotation, "model_fields")
    )


def payload_decoder(payload_type: Any) -> PayloadDecoder:
    """The decoder of ``payload_type``, built once."""
    if is_pydantic_model(payload_type):
        return _PydanticDecoder(payload_type)
    decoder: PayloadDecoder = msgspec.json.Decoder(payload_type)
    return decoder


class _PydanticDecoder:
    """A pydantic model's validation, answering as msgspec's decoder does."""

    __slots__ = ("_adapter", "_model")

    def __init__(self, model: type) -> None:
        from pydantic import TypeAdapter

        self._model = model
        self._adapter: Any = TypeAdapter(model)

    @property
    def type(self) -> Any:
        """The pydantic model."""
        return self._model

    def decode(self, raw: bytes | msgspec.Raw) -> Any:
        from pydantic import ValidationError

        data = bytes(raw)
        if data == _NULL:  # an absent payload: the model's defaults, as for a Struct
            data = b"{}"
        try:
            return self._adapter.validate_json(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            if first.get("type") == "json_invalid":
                raise msgspec.DecodeError(f"JSON is malformed: {first.get('msg')}") from None
            raise msgspec.ValidationError(
                f"{first.get('msg')} - at `{_path(first.get('loc', ()))}`"
            ) from None


def _path(location: tuple[int | str, ...]) -> str:
    """pydantic's error location as msgspec writes a path: ``$.items[0].qty``."""
    path = "$"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def pydantic_schema(model: type, ref_template: str, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a pydantic model, its nested models added to ``components``."""
    from pydantic import TypeAdapter

    # (msgspec names the placeholder {name}, pydantic {model})
    schema: dict[str, Any] = TypeAdapter(model).json_schema(
        ref_template=ref_template.replace("{name}", "{model}")
    )
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    return schema
