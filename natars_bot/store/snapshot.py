"""Bulk reads for exports and statistics: a read-only connection of their own, used from a
worker thread. Walking 100,000 referrals through the bot's async connection costs a thread hop
per page and keeps the event loop busy; plain sqlite3 in a thread does neither."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .rows import LOG_ANSWERS, LogEntry

__all__ = ["Snapshot"]

_PAGE = 2000


class Snapshot:
    """A read-only view of the database file; use as a context manager."""

    def __init__(self, database: Path) -> None:
        self._db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, check_same_thread=False)

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def log_entries(
        self, *, since: str | None = None, until: str | None = None, site: str | None = None
    ) -> Iterator[LogEntry]:
        """Every assessed referral (not drafts, not discarded) with its latest version's answers
        and ballots, oldest first. `since`/`until`: dates of referral (inclusive)."""
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
        # One json_extract with several paths parses each state once (SQLite's own JSON).
        paths = ", ".join(f"'$.answers.{name}'" for name in LOG_ANSWERS)
        query = (
            "SELECT r.id, r.public_id, r.site, r.status, r.version, r.created_at, r.updated_at,"
            " r.verdict, r.failed, r.unknown, r.protocol, s.id, s.decision, s.decided_at,"
            # Votes and reasons as the log prints them, joined by SQLite: building a Python
            # object per ballot cost a quarter of a 100,000-row export. (Within a case they
            # follow the votes' primary key, reviewer by reviewer.)
            " (SELECT group_concat(COALESCE(u.name, 'reviewer ' || v.reviewer_id) || ': '"
            "   || v.vote, '; ') FROM votes v LEFT JOIN users u ON u.telegram_id = v.reviewer_id"
            "   AND u.role = 'reviewer' WHERE v.submission_id = s.id),"
            " (SELECT group_concat(COALESCE(u.name, 'reviewer ' || v.reviewer_id) || ': '"
            "   || v.reason, '; ') FROM votes v LEFT JOIN users u ON u.telegram_id = v.reviewer_id"
            "   AND u.role = 'reviewer' WHERE v.submission_id = s.id AND v.reason IS NOT NULL),"
            f" json_extract(COALESCE(s.state, r.state), {paths}) FROM referrals r"
            " LEFT JOIN submissions s ON s.referral_id = r.id AND s.version = r.version"
            f" WHERE {' AND '.join(conditions)} AND r.id > ? ORDER BY r.id LIMIT {_PAGE}"
        )

        def fetch(after: int) -> list[Any]:
            return self._db.execute(query, (*params, after)).fetchall()

        # The next page is read while this one is turned into rows: sqlite3 releases the GIL,
        # so SQLite's work and Python's overlap on two cores. Only the reader thread touches
        # the connection.
        with ThreadPoolExecutor(max_workers=1) as reader:
            upcoming = reader.submit(fetch, 0)
            while True:
                page = upcoming.result()
                if not page:
                    return
                upcoming = reader.submit(fetch, page[-1][0])
                yield from self._entries(page)

    @staticmethod
    def _entries(page: list[Any]) -> Iterator[LogEntry]:
        for r in page:
            yield LogEntry(
                r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                " ".join(json.loads(r[8])) if r[8] else "",
                " ".join(json.loads(r[9])) if r[9] else "",
                r[10], json.loads(r[16]), r[11] is not None, r[12], r[13], r[14] or "", r[15] or "",
            )  # fmt: skip

    def drafts_by_site(self, site: str | None = None) -> dict[str, int]:
        """Referrals still in progress, per site."""
        query = "SELECT COALESCE(site, ''), COUNT(*) FROM referrals WHERE status = 'draft'"
        params: tuple[Any, ...] = ()
        if site is not None:
            query += " AND site = ?"
            params = (site,)
        return {str(r[0]): int(r[1]) for r in self._db.execute(query + " GROUP BY 1", params)}
