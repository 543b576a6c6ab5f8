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
from typing import Any, NamedTuple

__all__ = ["SFT_PARTS", "LogCells", "Snapshot"]

_PAGE = 2000  # referrals a page (each gives one row per version)
_NO_VOTES = ("", "")
# For SFT referrals only: the given score and its parts, as a JSON array, in this order.
SFT_PARTS = (
    "sft_risk_score", "age_years", "tumor_size_cm", "sft_mitoses_per_2mm2", "sft_necrosis_percent",
)  # fmt: skip
# The answers the log reads, extracted from the (large) state once per row into a small array.
_ANSWERS = ("histology", "grade", "tumor_size_cm", "asa_class", "consent", *SFT_PARTS)
_PATHS = ", ".join(f"'$.answers.{name}'" for name in _ANSWERS)

# One row per version: every submitted version (its own verdict, answers and decision), and the
# referral itself where it was stopped at the pre-screen (a version never submitted). A page is
# a run of referral ids, so that all versions of a referral come in the same page; rows are in
# referral order, then version. `answers`: the whole answers object (JSON), only when asked for.
# Criterion lists stay JSON: SQLite's json_each cost more than Python.
_LOG_QUERY = """
WITH page AS (
    SELECT r.id FROM referrals r WHERE {conditions} AND r.id > ? ORDER BY r.id LIMIT {page}
)
SELECT r.id, r.public_id, r.site, r.created_at, s.submitted_at, s.decided_at, s.protocol,
    s.version, s.verdict, s.failed, s.unknown, COALESCE(s.decision, 'pending'), r.status,
    json_extract(s.state, {paths}), {answers_s}, s.id
FROM page JOIN referrals r ON r.id = page.id JOIN submissions s ON s.referral_id = r.id
UNION ALL
SELECT r.id, r.public_id, r.site, r.created_at, r.updated_at, NULL, r.protocol,
    r.version, r.verdict, r.failed, r.unknown, 'not_submitted', r.status,
    json_extract(r.state, {paths}), {answers_r}, NULL
FROM page JOIN referrals r ON r.id = page.id WHERE r.status = 'screen_failed'
ORDER BY 1, 8
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


class LogCells(NamedTuple):
    """One version of a referral as stored (times UTC ISO text; lists and answers JSON)."""

    referral: int  # the row id, for paging
    public_id: str
    site: str | None
    created_at: str
    assessed_at: str | None  # submitted, or stopped at the pre-screen
    decided_at: str | None
    protocol: str | None
    version: int
    verdict: str | None
    failed: str | None
    unknown: str | None
    decision: str  # pending, approved, declined, more_info; not_submitted
    status: str  # the referral's current status
    answers: str  # JSON array of the _ANSWERS, in that order
    all_answers: str | None  # JSON object of every answer, when asked for
    submission: int | None
    votes: str
    reasons: str


class Snapshot:
    """A read-only view of the database file; use as a context manager."""

    def __init__(self, database: Path) -> None:
        self._db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, check_same_thread=False)

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def log_cells(
        self,
        *,
        start: str | None = None,
        end: str | None = None,
        site: str | None = None,
        answers: bool = False,
    ) -> Iterator[LogCells]:
        """Every version of every assessed referral, oldest referral first, then by version:
        each submitted version, and a referral stopped at the pre-screen. Drafts and discarded
        referrals have no row of their own, but their earlier submitted versions do.
        `start`/`end`: UTC ISO times the referral was opened in, end exclusive. `answers`:
        fill `all_answers`. This is a read-only operation."""
        conditions = [
            "(r.status NOT IN ('draft', 'cancelled')"
            " OR EXISTS (SELECT 1 FROM submissions x WHERE x.referral_id = r.id))"
        ]
        params: list[Any] = []
        if start:
            conditions.append("r.created_at >= ?")
            params.append(start)
        if end:
            conditions.append("r.created_at < ?")
            params.append(end)
        if site:
            conditions.append("r.site = ?")
            params.append(site)
        query = _LOG_QUERY.format(
            conditions=" AND ".join(conditions),
            page=_PAGE,
            paths=_PATHS,
            answers_s="json_extract(s.state, '$.answers')" if answers else "NULL",
            answers_r="json_extract(r.state, '$.answers')" if answers else "NULL",
        )

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
                    yield LogCells._make((*row, *votes.get(row[-1], _NO_VOTES)))

    def drafts_by_site(self, site: str | None = None) -> dict[str, int]:
        """Referrals still in progress, per site."""
        query = "SELECT COALESCE(site, ''), COUNT(*) FROM referrals WHERE status = 'draft'"
        params: tuple[Any, ...] = ()
        if site is not None:
            query += " AND site = ?"
            params = (site,)
        return {str(r[0]): int(r[1]) for r in self._db.execute(query + " GROUP BY 1", params)}
