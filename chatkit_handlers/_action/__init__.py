"""Layer 3, what a handler author writes against: ``@on_action``, the action type, ``ActionContext``."""
