"""Layer 5, execution: a request's bytes through decode, resolve, and the sync or stream runner."""
