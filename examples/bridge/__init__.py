"""An existing openai-chatkit ``ChatKitServer`` adopting chatkit-handlers for its actions."""
