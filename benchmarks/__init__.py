"""Benchmarks for natars-bot: run as `python -m benchmarks.<name>` from the repository root."""
