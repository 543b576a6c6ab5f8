"""The screening log and the screening counts, read from a snapshot of the database.

Synchronous on purpose: callers run these in a worker thread (`asyncio.to_thread`), so that a
100,000-referral export neither blocks the bot nor pays a thread hop per row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from .protocol import Protocol
from .screening_log import LogRow, cells, csv_header, json_line, write_xlsx
from .stats import FlowCounts, count_flow
from .store import Snapshot
from .store.rows import LOG_ANSWERS

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
    for entry in snapshot.log_entries(since=since, until=until, site=site):
        histology, grade, size, asa, consent = entry.answers[:5]
        score = None
        if histology == "SFT":
            answers = dict(zip(LOG_ANSWERS, entry.answers, strict=True))
            given = answers.get(table.given)
            score = given if given is not None else table.computed_score(answers)
        yield LogRow(
            entry.public_id,
            entry.site or "",
            entry.created_at[:10],
            (entry.decided_at or "")[:10] if entry.submitted else entry.updated_at[:10],
            entry.protocol or "",
            entry.version,
            histology or "",
            "" if grade is None else str(grade),
            "" if size is None else f"{float(size):g}",
            "" if score is None else str(score),
            "" if asa is None else str(asa),
            entry.verdict or "",
            entry.failed,
            entry.unknown,
            (entry.decision or "pending") if entry.submitted else "not submitted",
            entry.votes,
            entry.reasons,
            consent or "",
            entry.status,
        )


def _text(value: object) -> str:
    return "" if value is None else str(value)


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
        target.write(csv_header())
        # One csv.writer over a text layer for the whole file (a buffer per row cost a third
        # of a 100,000-row export); detached at the end so that `target` stays open.
        text = io.TextIOWrapper(target, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\r\n")
        for row in rows:
            writer.writerow(cells(row))
            count += 1
        text.flush()
        text.detach()
        return count


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
