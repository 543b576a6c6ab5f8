"""Checking many referrals at once: JSON Lines in chunks, on every core when the batch is large.

Coordinators check whole screening lists (the benchmark: 100,000 lines in under 5 s). Each line's
verdict is independent of the others and the output is a few kilobytes per line, so large batches
are split into chunks evaluated in worker processes and written back in input order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from itertools import repeat

from natars_bot.protocol.checking import assessment_json_line, read_lines
from natars_bot.protocol.criteria import Protocol, default_protocol, load_protocol
from natars_bot.protocol.eligibility import evaluate

__all__ = ["CHUNK_LINES", "PARALLEL_FROM", "check_chunk", "check_lines"]

CHUNK_LINES = 5_000
# Below this many lines, starting worker processes costs more than it saves.
PARALLEL_FROM = 20_000


@cache
def _protocol(path: str | None) -> Protocol:
    return load_protocol(path) if path else default_protocol()


def check_chunk(lines: list[tuple[int, str]], protocol_path: str | None) -> tuple[bytes, list[str]]:
    """Verdicts for numbered JSON Lines: the output lines (newline-terminated) and the errors."""
    protocol = _protocol(protocol_path)
    verdicts: list[bytes] = []
    errors: list[str] = []
    for record in read_lines(lines):
        if record.referral is None:
            errors.append(record.error or record.label)
        else:
            verdicts.append(
                assessment_json_line(record.referral, evaluate(record.referral, protocol))
            )
    verdicts.append(b"")
    return b"\n".join(verdicts) if len(verdicts) > 1 else b"", errors


def check_lines(
    lines: list[tuple[int, str]], protocol_path: str | None, workers: int | None = None
) -> Iterator[tuple[bytes, list[str]]]:
    """Check numbered JSON Lines chunk by chunk, in input order, in parallel when worth it."""
    _protocol(protocol_path)  # a malformed protocol fails here, once, before any worker starts
    chunks = [lines[i : i + CHUNK_LINES] for i in range(0, len(lines), CHUNK_LINES)]
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(lines) < PARALLEL_FROM:
        yield from map(check_chunk, chunks, repeat(protocol_path))
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
        yield from pool.map(check_chunk, chunks, repeat(protocol_path))
