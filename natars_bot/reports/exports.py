"""The screening log and the screening counts, read from a snapshot of the database.

Synchronous on purpose: callers run these in a worker thread (`asyncio.to_thread`) with a
connection of their own, so that a 100,000-referral export does not hold up the bot's event loop,
where the bot's own connection runs (store/inline.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from natars_bot.protocol.criteria import Protocol
from natars_bot.reports.screening_log import LogRow, json_line, write_csv, write_xlsx
from natars_bot.reports.stats import FlowCounts, count_flow
from natars_bot.store import Snapshot
from natars_bot.store.snapshot import SFT_PARTS

__all__ = ["flow_counts", "log_rows", "write_log"]


def log_rows(
    snapshot: Snapshot,
    protocol: Protocol,
    *,
    since: str | None = None,
    until: str | None = None,
    site: str | None = None,
) -> Iterator[LogRow]:
    """The screening log's rows, streamed. This is a read-only operation.

    The verdict, failed and unknown criteria and protocol version are those the engine gave when
    the referral was stopped or submitted (stored with it), not recomputed today.
    """
    table = protocol.sft_risk
    for raw, (votes, reasons) in snapshot.log_cells(since=since, until=until, site=site):
        sft = raw[10]
        score = ""
        if sft is not None:
            given, *_ = parts = json.loads(sft)
            if given is not None:
                score = str(given)
            else:
                computed = table.computed_score(dict(zip(SFT_PARTS, parts, strict=True)))
                score = "" if computed is None else str(computed)
        failed = " ".join(json.loads(raw[13])) if raw[13] else ""
        unknown = " ".join(json.loads(raw[14])) if raw[14] else ""
        yield LogRow._make(
            (*raw[1:10], score, raw[11], raw[12], failed, unknown, raw[15], votes, reasons,
             raw[16], raw[17])
        )  # fmt: skip


def write_log(
    database: Path,
    protocol: Protocol,
    fmt: Literal["csv", "json", "xlsx"],
    target: BinaryIO,
    *,
    since: str | None = None,
    until: str | None = None,
    site: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the screening log to `target`; returns the number of rows. Memory stays flat for
    CSV and JSON (a row at a time); openpyxl's write-only mode streams XLSX rows to disk.
    `progress(rows_so_far)` is called every 5,000 rows."""
    with Snapshot(database) as snapshot:
        rows = log_rows(snapshot, protocol, since=since, until=until, site=site)
        if progress is not None:
            rows = _reporting(rows, progress)
        if fmt == "xlsx":
            return write_xlsx(rows, target)
        count = 0
        if fmt == "json":
            for row in rows:
                target.write(json_line(row))
                count += 1
            return count
        return write_csv(rows, target)


def _reporting(rows: Iterator[LogRow], progress: Callable[[int], None]) -> Iterator[LogRow]:
    for count, row in enumerate(rows, start=1):
        if count % 5000 == 0:
            progress(count)
        yield row


def flow_counts(
    database: Path, protocol: Protocol, *, site: str | None = None
) -> tuple[FlowCounts, dict[str, FlowCounts]]:
    """Overall and per-site CONSORT counts, from the same rows as the screening log."""
    with Snapshot(database) as snapshot:
        return count_flow(log_rows(snapshot, protocol, site=site), snapshot.drafts_by_site(site))
