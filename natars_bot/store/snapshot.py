"""Bulk reads for exports and statistics: a read-only connection of their own, used from a
worker thread. Walking 100,000 referrals through the bot's connection, which runs on the event
loop's thread, would stall the bot for seconds; a connection in a worker thread does not.

SQLite computes most of the screening log's cells (JSON and string functions) in a reader
thread that releases the GIL, so its work overlaps Python's on two cores.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["SFT_PARTS", "Snapshot"]

_PAGE = 2000
_NO_VOTES = ("", "")
# For SFT referrals only: the given score and its parts, as a JSON array, in this order.
SFT_PARTS = (
    "sft_risk_score", "age_years", "tumor_size_cm", "sft_mitoses_per_2mm2", "sft_necrosis_percent",
)  # fmt: skip
# The answers the log reads, extracted from the (large) state once per row into a small array.
_ANSWERS = ("histology", "grade", "tumor_size_cm", "asa_class", "consent", *SFT_PARTS)
_PATHS = ", ".join(f"'$.answers.{name}'" for name in _ANSWERS)
_SFT = ", ".join(f"'$[{_ANSWERS.index(name)}]'" for name in SFT_PARTS)


def _answer(name: str) -> str:
    return f"json_extract(a, '$[{_ANSWERS.index(name)}]')"


def _text(name: str) -> str:
    return f"COALESCE(CAST({_answer(name)} AS TEXT), '')"


# The screening log's columns in order
# (natars_bot.reports.screening_log.LogRow) but for the votes and
# reasons; the SFT score's ingredients where the score goes; `id` first for paging, the
# submission's id last. (Criterion lists stay JSON: SQLite's json_each cost more than Python.)
_LOG_QUERY = f"""
SELECT id, public_id, COALESCE(site, ''), substr(created_at, 1, 10),
    CASE WHEN sid IS NULL THEN substr(updated_at, 1, 10)
         ELSE COALESCE(substr(decided_at, 1, 10), '') END,
    COALESCE(protocol, ''), version, {_text("histology")}, {_text("grade")},
    CASE WHEN {_answer("tumor_size_cm")} IS NULL THEN ''
         ELSE printf('%g', {_answer("tumor_size_cm")}) END,
    CASE WHEN {_answer("histology")} = 'SFT' THEN json_extract(a, {_SFT}) END,
    {_text("asa_class")}, COALESCE(verdict, ''), failed, unknown,
    CASE WHEN sid IS NULL THEN 'not submitted' ELSE COALESCE(decision, 'pending') END,
    {_text("consent")}, status, sid
FROM (
    SELECT r.id, r.public_id, r.site, r.created_at, r.updated_at, r.protocol, r.version,
        r.verdict, r.failed, r.unknown, r.status, s.id AS sid, s.decision, s.decided_at,
        json_extract(COALESCE(s.state, r.state), {_PATHS}) AS a
    FROM referrals r
    LEFT JOIN submissions s ON s.referral_id = r.id AND s.version = r.version
    WHERE {{conditions}} AND r.id > ? ORDER BY r.id LIMIT {_PAGE}
)
"""
# Votes and reasons as the log prints them, one grouped query per page: a Python object per
# ballot, or a correlated subquery per referral, each cost a third of a 100,000-row export.
# Within a case, votes follow their primary key (reviewer by reviewer).
_VOTES_QUERY = """
SELECT v.submission_id,
    group_concat(COALESCE(u.name, 'reviewer ' || v.reviewer_id) || ': ' || v.vote, '; '),
    COALESCE(group_concat(CASE WHEN v.reason IS NOT NULL
        THEN COALESCE(u.name, 'reviewer ' || v.reviewer_id) || ': ' || v.reason END, '; '), '')
FROM votes v LEFT JOIN users u ON u.telegram_id = v.reviewer_id AND u.role = 'reviewer'
WHERE v.submission_id IN ({marks}) GROUP BY v.submission_id
"""


class Snapshot:
    """A read-only view of the database file; use as a context manager."""

    def __init__(self, database: Path) -> None:
        self._db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, check_same_thread=False)

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def log_cells(
        self, *, since: str | None = None, until: str | None = None, site: str | None = None
    ) -> Iterator[tuple[tuple[Any, ...], tuple[str, str]]]:
        """(cells, (votes, reasons)) per assessed referral (not drafts, not discarded), oldest
        first. In the cells, the SFT score's place holds its ingredients (see SFT_PARTS) for
        SFT referrals, and failed/unknown are JSON lists. `since`/`until`: dates of referral,
        inclusive."""
        conditions = ["r.status NOT IN ('draft', 'cancelled')"]
        params: list[Any] = []
        if since:
            conditions.append("r.created_at >= ?")
            params.append(since)
        if until:
            conditions.append("r.created_at < date(?, '+1 day')")
            params.append(until)
        if site:
            conditions.append("r.site = ?")
            params.append(site)
        query = _LOG_QUERY.format(conditions=" AND ".join(conditions))

        def fetch(after: int) -> tuple[list[Any], dict[int, tuple[str, str]]]:
            page: list[Any] = self._db.execute(query, (*params, after)).fetchall()
            submissions = [row[-1] for row in page if row[-1] is not None]
            votes: dict[int, tuple[str, str]] = {}
            if submissions:
                grouped = _VOTES_QUERY.format(marks=",".join("?" * len(submissions)))
                for sid, cast, reasons in self._db.execute(grouped, submissions):
                    votes[sid] = (cast, reasons)
            return page, votes

        # The next page is read while this one is written out; only the reader thread touches
        # the connection.
        with ThreadPoolExecutor(max_workers=1) as reader:
            upcoming = reader.submit(fetch, 0)
            while True:
                page, votes = upcoming.result()
                if not page:
                    return
                upcoming = reader.submit(fetch, page[-1][0])
                for row in page:
                    yield row, votes.get(row[-1], _NO_VOTES)

    def drafts_by_site(self, site: str | None = None) -> dict[str, int]:
        """Referrals still in progress, per site."""
        query = "SELECT COALESCE(site, ''), COUNT(*) FROM referrals WHERE status = 'draft'"
        params: tuple[Any, ...] = ()
        if site is not None:
            query += " AND site = ?"
            params = (site,)
        return {str(r[0]): int(r[1]) for r in self._db.execute(query + " GROUP BY 1", params)}
