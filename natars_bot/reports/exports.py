"""The screening log and the screening counts, read from a snapshot of the database.

Synchronous on purpose: callers run these in a worker thread (`asyncio.to_thread`) with a
connection of their own, so that a 100,000-referral export does not hold up the bot's event loop,
where the bot's own work waits on its store (store/driver.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple
from zoneinfo import ZoneInfo

from natars_bot.dialogue.engine import DialogueState, to_referral
from natars_bot.dialogue.flow import Flow, default_flow
from natars_bot.protocol.criteria import Protocol
from natars_bot.reports.screening_log import LogRow, write_csv, write_json, write_xlsx
from natars_bot.reports.stats import FlowCounts, count_flow
from natars_bot.store import Snapshot
from natars_bot.store.snapshot import SFT_PARTS, LogCells

__all__ = [
    "REDCAP_FILES",
    "LogFormat",
    "Written",
    "flow_counts",
    "log_rows",
    "utc_bounds",
    "write_log",
    "write_redcap",
]

LogFormat = Literal["csv", "json", "xlsx"]
_UTC = ZoneInfo("UTC")
_SFT_FROM = 5  # where the SFT parts start in LogCells.answers (store.snapshot._ANSWERS)


def utc_bounds(
    since: date | None, until: date | None, zone: ZoneInfo
) -> tuple[str | None, str | None]:
    """Dates of referral in `zone` (both inclusive) as the UTC times the store compares with:
    the start of `since`, and the start of the day after `until`."""

    def start_of(day: date) -> str:
        return datetime.combine(day, time(), zone).astimezone(UTC).isoformat(timespec="seconds")

    return (
        start_of(since) if since else None,
        start_of(until + timedelta(days=1)) if until else None,
    )


def _local_date(moment: str | None, zone: ZoneInfo) -> date | None:
    if not moment:
        return None
    parsed = datetime.fromisoformat(moment)
    if parsed.tzinfo is None:  # stored times are UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(zone).date()


def log_rows(
    snapshot: Snapshot,
    protocol: Protocol,
    *,
    zone: ZoneInfo = _UTC,
    since: date | None = None,
    until: date | None = None,
    site: str | None = None,
    referrals: Flow | None = None,
) -> Iterator[LogRow]:
    """The screening log's rows, one per version, streamed. This is a read-only operation.

    Each version's verdict, failed and unknown criteria and protocol version are those the
    engine gave when it was stopped or submitted (stored with it), not recomputed today. Dates
    are those of `zone`, and so are `since`/`until` (dates of referral, inclusive). With
    `referrals` (the dialogue flow), each row carries the version's answers as the referral
    model reads them (hidden questions take their `when_hidden` values).
    """
    start, end = utc_bounds(since, until, zone)
    cells = snapshot.log_cells(start=start, end=end, site=site, answers=referrals is not None)
    previous: LogCells | None = None
    for current in cells:
        if previous is not None:
            yield _row(previous, previous.referral != current.referral, protocol, zone, referrals)
        previous = current
    if previous is not None:
        yield _row(previous, True, protocol, zone, referrals)


def _ids(text: str | None) -> tuple[str, ...]:
    """A stored JSON list of criterion ids (most are empty: no JSON parse for those)."""
    return tuple(json.loads(text)) if text and text != "[]" else ()


def _row(
    cells: LogCells, latest: bool, protocol: Protocol, zone: ZoneInfo, flow: Flow | None
) -> LogRow:
    answers = json.loads(cells.answers)
    histology, grade, size, asa, consent = answers[:_SFT_FROM]
    score = None
    if histology == "SFT":
        given = answers[_SFT_FROM]
        score = (
            given
            if given is not None
            else protocol.sft_risk.computed_score(
                dict(zip(SFT_PARTS, answers[_SFT_FROM:], strict=True))
            )
        )
    referral: dict[str, Any] | None = None
    if flow is not None and cells.all_answers is not None:
        state = DialogueState(answers=json.loads(cells.all_answers))
        model = to_referral(flow, state, referral_id=cells.public_id, site=cells.site)
        referral = model.model_dump(mode="json")
    return LogRow(
        referral_id=cells.public_id,
        version=cells.version,
        latest=latest,
        site=cells.site,
        referred_on=_local_date(cells.created_at, zone),
        assessed_on=_local_date(cells.assessed_at, zone),
        decided_on=_local_date(cells.decided_at, zone),
        protocol=cells.protocol,
        histology=histology,
        grade=grade,
        tumor_size_cm=None if size is None else float(size),
        sft_score=score,
        asa_class=asa,
        engine_verdict=cells.verdict,
        failed=_ids(cells.failed),
        unknown=_ids(cells.unknown),
        mdt_decision=cells.decision,
        votes=cells.votes,
        reasons=cells.reasons,
        consent=consent,
        status=cells.status,
        referral=referral,
    )


class Written(NamedTuple):
    """What an export wrote: rows (one per version) and referrals (rows marked latest)."""

    rows: int
    referrals: int


def write_log(
    database: Path,
    protocol: Protocol,
    fmt: LogFormat,
    target: BinaryIO,
    *,
    zone: ZoneInfo = _UTC,
    since: date | None = None,
    until: date | None = None,
    site: str | None = None,
    flow: Flow | None = None,
    progress: Callable[[int], None] | None = None,
) -> Written:
    """Write the screening log to `target`; returns how many rows and referrals. Memory stays
    flat for CSV and JSON (a row at a time); openpyxl's write-only mode streams XLSX to disk.
    `progress(rows_so_far)` is called every 5,000 rows. `flow` (the shipped dialogue by default)
    turns each version's answers into the referral model for JSON Lines."""
    with Snapshot(database) as snapshot:
        rows = log_rows(
            snapshot,
            protocol,
            zone=zone,
            since=since,
            until=until,
            site=site,
            referrals=(flow or default_flow()) if fmt == "json" else None,
        )
        latest = [0]
        rows = _counting(rows, latest, progress)
        if fmt == "xlsx":
            count = write_xlsx(rows, target, zone=zone.key)
        elif fmt == "json":
            count = write_json(rows, target)
        else:
            count = write_csv(rows, target)
        return Written(count, latest[0])


def _counting(
    rows: Iterator[LogRow], latest: list[int], progress: Callable[[int], None] | None
) -> Iterator[LogRow]:
    """The rows, counting those marked latest into `latest[0]` and calling `progress` every
    5,000 rows."""
    for count, row in enumerate(rows, start=1):
        if row.latest:
            latest[0] += 1
        if progress is not None and count % 5000 == 0:
            progress(count)
        yield row


# The two files `natars-bot export --format redcap` writes into its --output folder.
REDCAP_FILES = ("natars-redcap-dictionary.csv", "natars-redcap-records.csv")


def write_redcap(
    database: Path,
    protocol: Protocol,
    dictionary: BinaryIO,
    records: BinaryIO,
    *,
    zone: ZoneInfo = _UTC,
    since: date | None = None,
    until: date | None = None,
    site: str | None = None,
    flow: Flow | None = None,
) -> Written:
    """The REDCap data dictionary (generated from the flow and the referral model) and the
    records, the latest version of each referral, coded against it. Read-only."""
    from natars_bot.reports.redcap import (  # noqa: PLC0415 - for this format only
        data_dictionary,
        write_dictionary,
        write_records,
    )

    flow = flow or default_flow()
    fields = data_dictionary(flow)
    write_dictionary(fields, dictionary)
    with Snapshot(database) as snapshot:
        rows = log_rows(
            snapshot, protocol, zone=zone, since=since, until=until, site=site, referrals=flow
        )
        written = write_records(rows, fields, records)
    return Written(written, written)


def flow_counts(
    database: Path, protocol: Protocol, *, site: str | None = None
) -> tuple[FlowCounts, dict[str, FlowCounts]]:
    """Overall and per-site CONSORT counts, from the same rows as the screening log."""
    with Snapshot(database) as snapshot:
        return count_flow(log_rows(snapshot, protocol, site=site), snapshot.drafts_by_site(site))
