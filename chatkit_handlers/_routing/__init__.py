"""Layer 4, registration: routers and routes, signatures inspected once, the pipeline around a handler."""
