"""Telegram without Telegram: a local Bot API server, its HTTP driver for tests and benchmarks, and
the browser page of `natars-bot sandbox`.
"""
