"""The outbox: messages that matter, written in the same transaction as the change they report,
and delivered (with retries) by the outbox worker (natars_bot/bot/delivery.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, timedelta
from typing import Any, Literal

from natars_bot.store.base import Db, StoreBase
from natars_bot.store.rows import OutboxRow, Outgoing

__all__ = ["OutboxMixin"]


_OUTBOX_COLUMNS = (
    "id, kind, chat_id, text, markup, submission_id, reply_to_summary, status, attempts"
)


def _outbox_row(r: Any) -> OutboxRow:
    return OutboxRow(
        r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else None, r[5], bool(r[6]), r[7], r[8]
    )


class OutboxMixin(StoreBase):
    """Enqueue inside a transaction; the worker reads due rows and marks what happened."""

    def _instant(self, delay: float = 0.0) -> str:
        """Now (plus `delay` seconds) to the millisecond, for the outbox's due times."""
        moment = self._clock().astimezone(UTC) + timedelta(seconds=delay)
        return moment.isoformat(timespec="milliseconds")

    def _enqueue_in(
        self,
        db: Db,
        items: Sequence[Outgoing],
        submission_id: int | None,
        *,
        delay: float = 0.0,
    ) -> None:
        """Add messages to the outbox, due after `delay` seconds, inside a transaction."""
        at = self._instant()
        due = self._instant(delay)
        for item in items:
            if item.kind == "tally" and submission_id is not None:
                # Only the newest tally matters: older unsent edits of the summary are dropped.
                db.execute(
                    "UPDATE outbox SET status = 'superseded' WHERE submission_id = ?"
                    " AND kind = 'tally' AND status = 'pending'",
                    (submission_id,),
                )
            db.execute(
                "INSERT INTO outbox (kind, chat_id, text, markup, submission_id, reply_to_summary,"
                " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item.kind,
                    item.chat_id,
                    item.text,
                    json.dumps(item.markup) if item.markup is not None else None,
                    submission_id,
                    int(item.reply_to_summary),
                    due,
                    at,
                ),
            )

    async def earlier_part_pending(self, row: OutboxRow) -> bool:
        """Whether a part of the same post queued before `row` (a long summary's leading part)
        is still waiting: the parts go out in order. This is a read-only operation."""
        if row.submission_id is None:
            return False
        found = await self._one(
            "SELECT 1 FROM outbox WHERE submission_id = ? AND id < ? AND status = 'pending'"
            " AND kind IN ('message', 'summary') AND chat_id IS NULL AND reply_to_summary = 0",
            (row.submission_id, row.id),
        )
        return found is not None

    async def due_outbox(self, limit: int = 50) -> list[OutboxRow]:
        """Pending messages whose time has come, oldest first. This is a read-only operation."""
        rows = await self._all(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending'"
            " AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (self._instant(), limit),
        )
        return [_outbox_row(r) for r in rows]

    async def outbox_counts(self) -> dict[str, int]:
        """Outbox rows per status. This is a read-only operation."""
        return {
            str(r[0]): int(r[1])
            for r in await self._all("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        }

    async def summary_message(self, submission_id: int) -> tuple[int, int] | None:
        """(chat id, message id) of a submission's posted summary, once known."""
        row = await self._one(
            "SELECT mdt_chat_id, mdt_message_id FROM submissions WHERE id = ?", (submission_id,)
        )
        if row is None or row[1] is None:
            return None
        return int(row[0]), int(row[1])

    async def summary_seen(self, submission_id: int, chat_id: int, message_id: int) -> None:
        """Learn a summary's message id from a button pressed under it (after an uncertain post)."""
        await self._write(
            lambda db: db.execute(
                "UPDATE submissions SET mdt_chat_id = ?, mdt_message_id = ?"
                " WHERE id = ? AND mdt_message_id IS NULL",
                (chat_id, message_id, submission_id),
            )
        )

    async def outbox_sent(
        self,
        row: OutboxRow,
        chat_id: int,
        message_id: int | None,
        *,
        buttons: Outgoing | None = None,
    ) -> None:
        """Record a delivery; a summary's message id is what later edits and reminders use.
        `buttons` (a summary's vote buttons, added by an edit once its message id is known) is
        queued in the same transaction — unless a tally edit is already waiting, which brings
        the buttons with the votes (an edit of the summary alone would wipe its tally)."""
        at = self.now()

        def sent(db: Db) -> None:
            db.execute(
                "UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?,"
                " attempts = attempts + 1, sending_at = NULL WHERE id = ?",
                (message_id, at, row.id),
            )
            if row.kind == "summary" and row.submission_id is not None and message_id is not None:
                db.execute(
                    "UPDATE submissions SET mdt_chat_id = ?, mdt_message_id = ? WHERE id = ?",
                    (chat_id, message_id, row.submission_id),
                )
                self._audit_summary_in(
                    db, row.submission_id, "summary_posted", {"message_id": message_id}
                )
            if buttons is not None and row.submission_id is not None:
                waiting = self._row_in(
                    db,
                    "SELECT 1 FROM outbox WHERE submission_id = ? AND kind = 'tally'"
                    " AND status = 'pending'",
                    (row.submission_id,),
                )
                if waiting is None:
                    self._enqueue_in(db, [buttons], row.submission_id)

        await self._write(sent)

    async def outbox_retry(
        self, row: OutboxRow, delay: float, error: str, *, count: bool = True
    ) -> None:
        """Try again after `delay` seconds; `count=False` when the failure says nothing about
        the row (Telegram's flood wait, a chat that moved), so it does not bring the cap nearer."""
        due = self._instant(delay)
        await self._write(
            lambda db: db.execute(
                "UPDATE outbox SET attempts = attempts + ?, next_attempt_at = ?, last_error = ?,"
                " sending_at = NULL WHERE id = ?",
                (int(count), due, error[:500], row.id),
            )
        )

    async def outbox_give_up(
        self, row: OutboxRow, status: Literal["uncertain", "failed"], error: str
    ) -> None:
        """Stop trying: `uncertain` (a read timeout: it may have arrived) or `failed` (refused)."""

        def give_up(db: Db) -> None:
            db.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?,"
                " sending_at = NULL WHERE id = ?",
                (status, error[:500], row.id),
            )
            if row.kind == "summary" and row.submission_id is not None:
                self._audit_summary_in(
                    db, row.submission_id, f"summary_{status}", {"error": error[:200]}
                )

        await self._write(give_up)

    async def outbox_sending(self, row: OutboxRow) -> None:
        """Note, committed before the Bot API call, that the row is being sent: after a crash
        a row still so marked may have reached Telegram (`interrupted_sends`)."""
        at = self._instant()
        await self._write(
            lambda db: db.execute("UPDATE outbox SET sending_at = ? WHERE id = ?", (at, row.id)),
            record=False,
        )

    async def interrupted_sends(self) -> list[OutboxRow]:
        """Rows whose call began and whose outcome was never recorded (the bot died in
        between), oldest first. This is a read-only operation."""
        rows = await self._all(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending'"
            " AND sending_at IS NOT NULL ORDER BY id"
        )
        return [_outbox_row(r) for r in rows]

    async def outbox_superseded(self, row: OutboxRow) -> None:
        """A row made redundant before it was sent (a re-post whose first copy turned up)."""
        await self._write(
            lambda db: db.execute(
                "UPDATE outbox SET status = 'superseded', sending_at = NULL WHERE id = ?",
                (row.id,),
            ),
            record=False,
        )

    async def outbox_uncertain(
        self, row: OutboxRow, error: str, *, repost: Sequence[Outgoing], delay: float
    ) -> None:
        """A post that may or may not have arrived: marked uncertain (never sent again as it
        is), audited, and `repost` queued due after `delay` seconds — the worker drops it if a
        press under the first copy told us its id meanwhile."""

        def uncertain(db: Db) -> None:
            db.execute(
                "UPDATE outbox SET status = 'uncertain', attempts = attempts + 1,"
                " last_error = ?, sending_at = NULL WHERE id = ?",
                (error[:500], row.id),
            )
            if row.kind == "summary" and row.submission_id is not None:
                self._audit_summary_in(
                    db, row.submission_id, "summary_uncertain", {"error": error[:200]}
                )
            self._enqueue_in(db, repost, row.submission_id, delay=delay)

        await self._write(uncertain)

    async def outbox_failed(self, row: OutboxRow, error: str, alerts: Sequence[Outgoing]) -> None:
        """Give up on a row that cannot be delivered, and queue `alerts` (to the admins) with it,
        so that a failed message is never silent and never holds up the rows after it."""

        def failed(db: Db) -> None:
            db.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?,"
                " sending_at = NULL WHERE id = ?",
                (error[:500], row.id),
            )
            self._audit_in(
                db,
                "bot",
                "outbox_failed",
                self._public_id_in(db, row.submission_id),
                {"outbox": row.id, "kind": row.kind, "chat_id": row.chat_id, "error": error[:200]},
            )
            self._enqueue_in(db, alerts, None)

        await self._write(failed)

    async def queue(self, items: Sequence[Outgoing]) -> None:
        """Queue messages that report no change of their own (the audit head to the admins)."""
        await self._write(lambda db: self._enqueue_in(db, items, None), record=False)

    async def admins(self) -> list[int]:
        """The Telegram ids of the admins (who hear about failures). This is a read-only
        operation."""
        rows = await self._all("SELECT telegram_id FROM users WHERE role = 'admin' ORDER BY 1")
        return [int(r[0]) for r in rows]

    async def mdt_chat(self, configured: int | None) -> int | None:
        """The MDT chat to post in: the configured one, unless Telegram moved it (a group
        upgraded to a supergroup) and the move is stored. This is a read-only operation."""
        moved = {
            str(r[0]): int(r[1])
            for r in await self._all(
                "SELECT key, value FROM bot_state WHERE key IN ('mdt_chat_from', 'mdt_chat_to')"
            )
        }
        if configured is not None and moved.get("mdt_chat_from") == configured:
            return moved.get("mdt_chat_to", configured)
        return configured

    async def undecided_in(self, chat_id: int) -> list[int]:
        """Undecided submissions whose summary was posted in `chat_id`. This is a read-only
        operation."""
        rows = await self._all(
            "SELECT id FROM submissions WHERE decision IS NULL AND mdt_chat_id = ? ORDER BY id",
            (chat_id,),
        )
        return [int(r[0]) for r in rows]

    async def migrate_mdt_chat(
        self,
        old: int,
        new: int,
        *,
        reposts: Mapping[int, Sequence[Outgoing]],
        notices: Sequence[Outgoing],
    ) -> None:
        """Telegram moved the MDT chat (ChatMigrated): store and audit the move, forget the old
        chat's summaries of undecided cases and queue their re-posts (`reposts`, by submission:
        the old chat takes no more edits or votes), and queue `notices` (to the admins), in one
        transaction."""

        def migrate(db: Db) -> None:
            for key, value in (("mdt_chat_from", old), ("mdt_chat_to", new)):
                db.execute(
                    "INSERT INTO bot_state (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
            self._audit_in(db, "bot", "mdt_chat_migrated", None, {"from": old, "to": new})
            for submission_id, items in reposts.items():
                db.execute(
                    "UPDATE submissions SET mdt_chat_id = NULL, mdt_message_id = NULL"
                    " WHERE id = ? AND decision IS NULL AND mdt_chat_id = ?",
                    (submission_id, old),
                )
                # Edits queued for the old copy wait for the new one (kind tally: the summary).
                self._enqueue_in(db, items, submission_id)
            self._enqueue_in(db, notices, None)

        await self._write(migrate)

    def _public_id_in(self, db: Db, submission_id: int | None) -> str | None:
        if submission_id is None:
            return None
        row = self._row_in(
            db,
            "SELECT r.public_id FROM submissions s JOIN referrals r ON r.id = s.referral_id"
            " WHERE s.id = ?",
            (submission_id,),
        )
        return str(row[0]) if row else None

    def _audit_summary_in(
        self, db: Db, submission_id: int, action: str, detail: dict[str, Any]
    ) -> None:
        row = self._row_in(
            db,
            "SELECT r.public_id, s.version FROM submissions s"
            " JOIN referrals r ON r.id = s.referral_id WHERE s.id = ?",
            (submission_id,),
        )
        if row is not None:
            self._audit_in(db, "bot", action, str(row[0]), {"version": int(row[1]), **detail})
