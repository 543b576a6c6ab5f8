"""Referrals: pseudonymous ids, drafts and their dialogue state, closing."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC
from typing import Any, Literal

from natars_bot.dialogue.engine import DialogueState
from natars_bot.errors import StoreError
from natars_bot.store.base import Db, StoreBase
from natars_bot.store.rows import ReferralRow

__all__ = ["ASSESSED", "ReferralsMixin"]

# Statuses of referrals whose dialogue has ended (drafts and discarded ones are not cases).
ASSESSED = ("screen_failed", "submitted", "more_info", "approved", "declined")
_STATES_KEPT = 2048  # parsed dialogue states kept (open drafts are what is read again)


class ReferralsMixin(StoreBase):
    """A referral's row holds its progress; every change is committed before the bot replies."""

    _REFERRAL_COLUMNS = (
        "id, public_id, surgeon_id, site, status, version, state, message_id, verdict,"
        " created_at, updated_at, submitted_at, shown_screen, shown_from"
    )

    def _referral(self, row: Any) -> ReferralRow:
        values = list(row)
        values[6] = self._state(values[0], values[6])
        return ReferralRow(*values)

    def _state(self, referral_id: int, text: str) -> DialogueState:
        """A referral's dialogue state from its JSON, parsed once per version of the text.

        Every update reads its draft back; the state is frozen, so the last one parsed (or
        saved) can be shared while the stored text is unchanged.
        """
        known = self._states.get(referral_id)
        if known is not None and known[0] == text:
            return known[1]
        state = DialogueState.model_validate_json(text)
        self._remember(referral_id, text, state)
        return state

    def _remember(self, referral_id: int, text: str, state: DialogueState) -> None:
        self._states[referral_id] = (text, state)
        self._states.move_to_end(referral_id)
        if len(self._states) > _STATES_KEPT:
            self._states.popitem(last=False)

    async def draft_of(self, surgeon_id: int) -> ReferralRow | None:
        """The surgeon's referral in progress, if any."""
        row = await self._one(
            f"SELECT {self._REFERRAL_COLUMNS} FROM referrals"
            " WHERE surgeon_id = ? AND status = 'draft'",
            (surgeon_id,),
        )
        return self._referral(row) if row else None

    async def referral(self, referral_id: int) -> ReferralRow:
        """A referral by its row id; StoreError if there is none."""
        row = await self._one(
            f"SELECT {self._REFERRAL_COLUMNS} FROM referrals WHERE id = ?", (referral_id,)
        )
        if row is None:
            raise StoreError(f"no referral #{referral_id}")
        return self._referral(row)

    async def referrals_of(self, surgeon_id: int, limit: int = 10) -> list[ReferralRow]:
        """The surgeon's latest referrals, newest first. This is a read-only operation."""
        return [
            self._referral(row)
            for row in await self._all(
                f"SELECT {self._REFERRAL_COLUMNS} FROM referrals WHERE surgeon_id = ?"
                " ORDER BY id DESC LIMIT ?",
                (surgeon_id, limit),
            )
        ]

    async def start_referral(self, surgeon_id: int, site: str | None) -> ReferralRow:
        """Open a draft with the next pseudonymous id of the year (NAT-2026-0007)."""
        now = self._clock().astimezone(UTC)
        prefix = f"NAT-{now.year}-"
        at = self.now()
        state = DialogueState().model_dump_json()

        def start(db: Db) -> int:
            public_id = f"{prefix}{self._next_number_in(db, prefix):04d}"
            try:
                cursor = db.execute(
                    "INSERT INTO referrals (public_id, surgeon_id, site, status, state, created_at,"
                    " updated_at) VALUES (?, ?, ?, 'draft', ?, ?, ?)",
                    (public_id, surgeon_id, site, state, at, at),
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError("this surgeon already has a referral in progress") from exc
            self._audit_in(db, str(surgeon_id), "referral_started", public_id, {"site": site})
            return int(cursor.lastrowid or 0)

        referral_id = await self._write(start)
        self._sites = None  # perhaps a new site
        return await self.referral(referral_id)

    def _next_number_in(self, db: Db, prefix: str) -> int:
        """The next number of the year's ids; call inside a transaction.

        A counter in bot_state, so that opening a referral costs the same with 100 or 100,000
        stored (counting the year's ids reads them all: 0.9 ms at 10,000). It starts from that
        count once a year, and for databases from before the counter.
        """
        key = f"sequence:{prefix}"
        row = self._row_in(
            db, "UPDATE bot_state SET value = value + 1 WHERE key = ? RETURNING value", (key,)
        )
        if row is not None:
            return int(row[0])
        counted = self._row_in(
            db, "SELECT COUNT(*) FROM referrals WHERE public_id LIKE ?", (prefix + "%",)
        )
        number = (int(counted[0]) if counted else 0) + 1
        db.execute("INSERT INTO bot_state (key, value) VALUES (?, ?)", (key, number))
        return number

    async def save_state(
        self,
        referral: ReferralRow,
        state: DialogueState,
        *,
        actor: str,
        action: str,
        detail: dict[str, Any],
        also: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> ReferralRow:
        """Commit a draft's new dialogue state and its audit row (before the bot replies);
        `also`: further audit rows (action, detail) of the same change, after it, in the same
        transaction (a rows screen's shortcut: one row per answer, then the confirmation)."""
        at = self.now()
        text = state.model_dump_json()
        histology = state.answers.get("histology")

        def save(db: Db) -> None:
            # The screen shown is compared too: of two presses (or a press and a typed answer)
            # read against the same state, only the first is saved.
            cursor = db.execute(
                "UPDATE referrals SET state = ?, histology = ?, updated_at = ?"
                " WHERE id = ? AND status = 'draft'"
                " AND COALESCE(json_extract(state, '$.screen'), 0) = ?",
                (text, histology, at, referral.id, referral.state.screen),
            )
            if cursor.rowcount != 1:
                raise StoreError(
                    f"referral {referral.public_id} is no longer in progress on that screen"
                )
            self._audit_in(db, actor, action, referral.public_id, detail)
            for more_action, more_detail in also:
                self._audit_in(db, actor, more_action, referral.public_id, more_detail)

        await self._write(save)
        self._remember(referral.id, text, state)
        # What was just written, without reading (and parsing) the row back: only the draft's
        # state and time changed, and the UPDATE checked it is still a draft on that screen.
        return replace(referral, state=state, updated_at=at)

    async def set_message(
        self, referral: ReferralRow, message_id: int | None, screen: int
    ) -> ReferralRow:
        """Record that the message `message_id` showing `screen` reached the surgeon's chat.

        Written at once, in a transaction of its own (no audit row: the answers are audited,
        this is where they were shown): a typed answer is taken only for a screen recorded
        here, so a crash or a failed reply between saving an answer and showing the next
        question can never let the surgeon's next message answer a question they never saw.
        """
        # The same screen shown again (resumed, re-prompted) keeps the message it first
        # appeared in: what the surgeon typed after that answered it.
        first = referral.shown_from if referral.shown_screen == screen else message_id
        await self._write(
            lambda db: db.execute(
                "UPDATE referrals SET message_id = COALESCE(?, message_id), shown_screen = ?,"
                " shown_from = ? WHERE id = ? AND status = 'draft'",
                (message_id, screen, first, referral.id),
            )
        )
        return replace(
            referral,
            message_id=message_id if message_id is not None else referral.message_id,
            shown_screen=screen,
            shown_from=first,
        )

    async def close_referral(
        self,
        referral: ReferralRow,
        status: Literal["screen_failed", "cancelled"],
        *,
        actor: str,
        verdict: str | None = None,
        failed: tuple[str, ...] = (),
        unknown: tuple[str, ...] = (),
        protocol: str | None = None,
    ) -> ReferralRow:
        """End a draft: stopped as ineligible, or discarded (submission is MdtMixin.submit)."""
        at = self.now()

        def close(db: Db) -> None:
            cursor = db.execute(
                "UPDATE referrals SET status = ?, verdict = ?, failed = ?, unknown = ?,"
                " protocol = ?, updated_at = ?, submitted_at = CASE WHEN ? = 'submitted' THEN ? END"
                " WHERE id = ? AND status = 'draft'",
                (
                    status,
                    verdict,
                    json.dumps(failed),
                    json.dumps(unknown),
                    protocol,
                    at,
                    status,
                    at,
                    referral.id,
                ),
            )
            if cursor.rowcount != 1:
                raise StoreError(f"referral {referral.public_id} is no longer in progress")
            self._audit_in(
                db,
                actor,
                f"referral_{status}",
                referral.public_id,
                {
                    "verdict": verdict,
                    "failed": list(failed),
                    "unknown": list(unknown),
                    "protocol": protocol,
                },
            )

        await self._write(close)
        return await self.referral(referral.id)

    async def cases(
        self,
        *,
        status: str | None = None,
        histology: str | None = None,
        site: str | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> tuple[list[ReferralRow], bool]:
        """One page of assessed referrals, newest first, filtered; and whether more follow.

        No COUNT(*): on a large table counting costs more than the page itself, and paging only
        needs to know whether there is a next page (one row more is read). Read-only.
        """
        conditions = [f"status IN ({', '.join(repr(s) for s in ASSESSED)})"]
        params: list[Any] = []
        if status:
            conditions.append("status = ?")
            params.append(status)
        if histology:
            conditions.append("histology = ?")
            params.append(histology)
        if site:
            conditions.append("site = ?")
            params.append(site)
        rows = [
            self._referral(r)
            for r in await self._all(
                f"SELECT {self._REFERRAL_COLUMNS} FROM referrals WHERE {' AND '.join(conditions)}"
                " ORDER BY id DESC LIMIT ? OFFSET ?",
                (*params, limit + 1, offset),
            )
        ]
        return rows[:limit], len(rows) > limit

    async def sites(self) -> list[str]:
        """The sites referrals came from, sorted (cached; a new site clears it). Read-only."""
        if self._sites is None:
            self._sites = [
                str(r[0])
                for r in await self._all(
                    "SELECT DISTINCT site FROM referrals WHERE site IS NOT NULL ORDER BY site"
                )
            ]
        return self._sites

    async def referral_by_public_id(self, public_id: str) -> ReferralRow:
        """A referral by its pseudonymous id; StoreError if there is none."""
        row = await self._one(
            f"SELECT {self._REFERRAL_COLUMNS} FROM referrals WHERE public_id = ?", (public_id,)
        )
        if row is None:
            raise StoreError(f"no referral {public_id}")
        return self._referral(row)
