"""The shop example: namespaces, package discovery, providers, guards, middleware, error handlers.

Run it with ``litestar --app examples.shop.app:app run`` and list its actions with
``python -m chatkit_handlers routes examples.shop.app:router``.
"""
