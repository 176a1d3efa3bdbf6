"""Benchmarks of chatkit-handlers against openai-chatkit and bare Litestar (see bench/README.md)."""
