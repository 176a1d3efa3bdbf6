"""Layer 1, values on the wire: what handlers produce turned into wire Structs, and back to bytes.

Imports only ``chatkit_handlers.types`` and ``errors`` (``chatkit`` holds the
conversion to and from openai-chatkit's pydantic models, imported only by the
parts that need chatkit).
"""
