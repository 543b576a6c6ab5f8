"""MDT submissions (one per version), reviewers' votes, reason prompts and reminders."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from natars_bot.audit.chain import GENESIS_HASH, Anchor
from natars_bot.audit.replay import StateRows, answers_digest
from natars_bot.dialogue.engine import DialogueState, shown
from natars_bot.errors import StoreError
from natars_bot.mdt.rules import Ballot, Decision, Vote
from natars_bot.store.base import Db
from natars_bot.store.outbox import OutboxMixin
from natars_bot.store.referrals import ReferralsMixin
from natars_bot.store.rows import Outgoing, ReferralRow, SubmissionRow

__all__ = ["MdtMixin"]

_SUBMISSION_COLUMNS = (
    "s.id, s.referral_id, r.public_id, r.surgeon_id, r.site, s.version, s.state, s.verdict,"
    " s.failed, s.unknown, s.protocol, s.submitted_at, s.mdt_chat_id, s.mdt_message_id,"
    " s.decision, s.decided_at, s.remind_at"
)
_FROM = " FROM submissions s JOIN referrals r ON r.id = s.referral_id"


def _submission(row: Any) -> SubmissionRow:
    values = list(row)
    values[6] = DialogueState.model_validate_json(values[6])
    values[8] = tuple(json.loads(values[8]))
    values[9] = tuple(json.loads(values[9]))
    return SubmissionRow(*values)


class MdtMixin(ReferralsMixin, OutboxMixin):
    """Submission, votes and decisions commit together with the messages that report them."""

    async def submit(
        self,
        referral: ReferralRow,
        *,
        verdict: str,
        failed: tuple[str, ...],
        unknown: tuple[str, ...],
        protocol: str,
        remind_at: datetime,
        compose: Callable[[int], Sequence[Outgoing]],
        actor: str,
    ) -> SubmissionRow:
        """Submit a draft to the MDT: a new version, its summary queued in the same transaction.

        `compose(submission_id)` renders the messages (the vote buttons carry the id).
        """
        at = self.now()
        state = referral.state.model_dump_json()
        remind = remind_at.astimezone(UTC).isoformat(timespec="seconds")

        def submit(db: Db) -> int:
            cursor = db.execute(
                "UPDATE referrals SET status = 'submitted', verdict = ?, failed = ?, unknown = ?,"
                " protocol = ?, updated_at = ?, submitted_at = ? WHERE id = ? AND status = 'draft'",
                (verdict, json.dumps(failed), json.dumps(unknown), protocol, at, at, referral.id),
            )
            if cursor.rowcount != 1:
                raise StoreError(f"referral {referral.public_id} is no longer in progress")
            cursor = db.execute(
                "INSERT INTO submissions (referral_id, version, state, verdict, failed, unknown,"
                " protocol, submitted_at, remind_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    referral.id,
                    referral.version,
                    state,
                    verdict,
                    json.dumps(failed),
                    json.dumps(unknown),
                    protocol,
                    at,
                    remind,
                ),
            )
            submission_id = int(cursor.lastrowid or 0)
            # compose runs here, on the connection's thread: the summary needs the new id, and
            # must be queued in the same transaction.
            self._enqueue_in(db, compose(submission_id), submission_id)
            self._audit_in(
                db,
                actor,
                "referral_submitted",
                referral.public_id,
                {"version": referral.version, "verdict": verdict, "failed": list(failed),
                 "unknown": list(unknown), "protocol": protocol,
                 # what `audit verify` compares the stored answers with
                 "answers": answers_digest(referral.state.answers)},
            )  # fmt: skip
            return submission_id

        submission_id = await self._write(submit)
        return await self.submission(submission_id)

    async def audit_head(self) -> Anchor:
        """The audit trail's head: how many rows, the last one's hash. This is a read-only
        operation."""
        row = await self._one(
            "SELECT COUNT(*), (SELECT hash FROM audit ORDER BY id DESC LIMIT 1) FROM audit"
        )
        count = int(row[0]) if row else 0
        return Anchor(count, str(row[1]) if row and row[1] else GENESIS_HASH)

    async def recorded_state(self) -> StateRows:
        """The MDT record as the tables hold it, for replay.reconcile. This is a read-only
        operation."""
        submissions = {
            (str(r[0]), int(r[1])): answers_digest(DialogueState.model_validate_json(r[2]).answers)
            for r in await self._all(f"SELECT r.public_id, s.version, s.state{_FROM}")
        }
        votes = {
            (str(r[0]), int(r[1]), int(r[2])): (str(r[3]), r[4])
            for r in await self._all(
                "SELECT r.public_id, s.version, v.reviewer_id, v.vote, v.reason FROM votes v"
                " JOIN submissions s ON s.id = v.submission_id"
                " JOIN referrals r ON r.id = s.referral_id"
            )
        }
        decisions = {
            (str(r[0]), int(r[1])): str(r[2])
            for r in await self._all(
                f"SELECT r.public_id, s.version, s.decision{_FROM} WHERE s.decision IS NOT NULL"
            )
        }
        statuses = {
            str(r[0]): str(r[1]) for r in await self._all("SELECT public_id, status FROM referrals")
        }
        users = await self._one("SELECT COUNT(*) FROM users")
        return StateRows(
            submissions=submissions,
            votes=votes,
            decisions=decisions,
            statuses=statuses,
            referrals=len(statuses),
            users=int(users[0]) if users else 0,
        )

    async def submission(self, submission_id: int) -> SubmissionRow:
        """A submission by id; StoreError if there is none."""
        row = await self._one(
            f"SELECT {_SUBMISSION_COLUMNS}{_FROM} WHERE s.id = ?", (submission_id,)
        )
        if row is None:
            raise StoreError(f"no submission #{submission_id}")
        return _submission(row)

    async def submissions_of(self, referral_id: int) -> list[SubmissionRow]:
        """Every submitted version of a referral, oldest first. This is a read-only operation."""
        return [
            _submission(row)
            for row in await self._all(
                f"SELECT {_SUBMISSION_COLUMNS}{_FROM} WHERE s.referral_id = ? ORDER BY s.version",
                (referral_id,),
            )
        ]

    async def ballots(self, submission_id: int) -> list[Ballot]:
        """The current vote of each reviewer on one version, in the order first cast: only the
        votes of users who are reviewers *now* count (a removed reviewer's votes stay stored
        and in the audit trail, see `discounted_ballots`). This is a read-only operation."""
        return await self._ballots(submission_id, counted=True)

    async def discounted_ballots(self, submission_id: int) -> list[Ballot]:
        """Votes on one version by users who are no longer reviewers: shown, never counted.

        This is a read-only operation."""
        return await self._ballots(submission_id, counted=False)

    async def _ballots(self, submission_id: int, *, counted: bool) -> list[Ballot]:
        rows = await self._all(
            "SELECT v.reviewer_id, COALESCE(u.name, 'reviewer ' || v.reviewer_id), v.vote,"
            " v.reason, v.voted_at FROM votes v LEFT JOIN users u"
            " ON u.telegram_id = v.reviewer_id AND u.role = 'reviewer'"
            f" WHERE v.submission_id = ? AND u.telegram_id IS {'NOT ' if counted else ''}NULL"
            " ORDER BY v.rowid",
            (submission_id,),
        )
        return [Ballot(int(r[0]), str(r[1]), Vote(r[2]), r[3], str(r[4])) for r in rows]

    async def record_vote(
        self,
        submission: SubmissionRow,
        reviewer_id: int,
        vote: Vote,
        reason: str | None,
        *,
        decision: Decision | None,
        outgoing: Sequence[Outgoing],
    ) -> SubmissionRow:
        """Record (or change) a reviewer's vote and, if it decides the case, the decision.

        Authority is checked again inside the transaction, from the stored state, so that a
        role removed or a version resubmitted since the press was read cannot slip in: the
        voter must be a reviewer now and not the referral's surgeon, and the version must be
        undecided and current. StoreError otherwise (nothing written).
        """
        at = self.now()

        def record(db: Db) -> None:
            row = self._row_in(
                db,
                "SELECT s.decision, s.version = r.version, r.surgeon_id,"
                " EXISTS (SELECT 1 FROM users WHERE telegram_id = ? AND role = 'reviewer')"
                " FROM submissions s JOIN referrals r ON r.id = s.referral_id WHERE s.id = ?",
                (reviewer_id, submission.id),
            )
            if row is None or row[0] is not None or not row[1]:
                raise StoreError(f"{submission.public_id} v{submission.version} is already decided")
            if not row[3]:
                raise StoreError(f"{reviewer_id} is not a reviewer")
            if int(row[2]) == reviewer_id:
                raise StoreError(f"{reviewer_id} submitted {submission.public_id}")
            db.execute(
                "INSERT INTO votes (submission_id, reviewer_id, vote, reason, voted_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (submission_id, reviewer_id) DO UPDATE"
                " SET vote = excluded.vote, reason = excluded.reason, voted_at = excluded.voted_at",
                (submission.id, reviewer_id, vote.value, reason, at),
            )
            # A vote answers the reviewer's open prompts on this case: none is pending any more.
            db.execute(
                "DELETE FROM reason_prompts WHERE submission_id = ? AND reviewer_id = ?",
                (submission.id, reviewer_id),
            )
            self._audit_in(
                db,
                str(reviewer_id),
                "vote",
                submission.public_id,
                {"version": submission.version, "vote": vote.value, "reason": reason},
            )
            if decision is not None:
                db.execute(
                    "UPDATE submissions SET decision = ?, decided_at = ? WHERE id = ?",
                    (decision.value, at, submission.id),
                )
                db.execute(
                    "UPDATE referrals SET status = ?, updated_at = ? WHERE id = ?",
                    (decision.value, at, submission.referral_id),
                )
                db.execute("DELETE FROM reason_prompts WHERE submission_id = ?", (submission.id,))
                self._audit_in(
                    db,
                    "mdt",
                    "decision",
                    submission.public_id,
                    {"version": submission.version, "decision": decision.value},
                )
            self._enqueue_in(db, outgoing, submission.id)

        await self._write(record)
        return await self.submission(submission.id)

    async def add_reason_prompt(
        self, chat_id: int, message_id: int, submission_id: int, reviewer_id: int, vote: Vote
    ) -> None:
        """Remember that the bot asked a reviewer for a reason (answered by a reply)."""
        await self._write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO reason_prompts VALUES (?, ?, ?, ?, ?)",
                (chat_id, message_id, submission_id, reviewer_id, vote.value),
            )
        )

    async def reason_prompt(self, chat_id: int, message_id: int) -> tuple[int, int, Vote] | None:
        """(submission id, reviewer id, vote) a prompt message asked about, if still open."""
        row = await self._one(
            "SELECT submission_id, reviewer_id, vote FROM reason_prompts"
            " WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id),
        )
        return (int(row[0]), int(row[1]), Vote(row[2])) if row else None

    async def pending_reason(
        self,
        reviewer_id: int,
        *,
        chat_id: int | None = None,
        submission_id: int | None = None,
    ) -> tuple[int, int, int, Vote] | None:
        """The reviewer's latest unanswered reason prompt on an undecided case — asked in
        `chat_id`, on `submission_id`, when given — as (chat id, message id, submission id,
        vote). This is a read-only operation."""
        row = await self._one(
            "SELECT p.chat_id, p.message_id, p.submission_id, p.vote FROM reason_prompts p"
            " JOIN submissions s ON s.id = p.submission_id"
            " WHERE p.reviewer_id = ? AND s.decision IS NULL"
            " AND (? IS NULL OR p.chat_id = ?) AND (? IS NULL OR p.submission_id = ?)"
            " ORDER BY p.rowid DESC LIMIT 1",
            (reviewer_id, chat_id, chat_id, submission_id, submission_id),
        )
        return (int(row[0]), int(row[1]), int(row[2]), Vote(row[3])) if row else None

    async def submission_posted_at(self, chat_id: int, message_id: int) -> int | None:
        """The submission whose summary is that message, if any. This is a read-only
        operation."""
        row = await self._one(
            "SELECT id FROM submissions WHERE mdt_chat_id = ? AND mdt_message_id = ?",
            (chat_id, message_id),
        )
        return int(row[0]) if row else None

    async def reopen(self, referral: ReferralRow, *, actor: str) -> ReferralRow:
        """After "need more information": the referral becomes a draft again, as a new version."""
        at = self.now()
        state = shown(referral.state, "ask").model_dump_json()

        def reopen(db: Db) -> None:
            try:
                # The new version opens at the review: a new screen, which no button of the
                # submitted version's screens can answer.
                cursor = db.execute(
                    "UPDATE referrals SET status = 'draft', version = version + 1, updated_at = ?,"
                    " state = ? WHERE id = ? AND status = 'more_info'",
                    (at, state, referral.id),
                )
            except Exception as exc:  # the one-draft-per-surgeon index
                raise StoreError("finish or cancel the referral in progress first") from exc
            if cursor.rowcount != 1:
                raise StoreError(f"referral {referral.public_id} is not waiting for information")
            self._audit_in(
                db,
                actor,
                "referral_reopened",
                referral.public_id,
                {"version": referral.version + 1},
            )

        await self._write(reopen)
        return await self.referral(referral.id)

    async def due_reminders(self) -> list[SubmissionRow]:
        """Undecided submissions whose reminder is due. This is a read-only operation."""
        return [
            _submission(row)
            for row in await self._all(
                f"SELECT {_SUBMISSION_COLUMNS}{_FROM} WHERE s.decision IS NULL AND s.remind_at <= ?"
                " ORDER BY s.remind_at",
                (self.now(),),
            )
        ]

    async def record_reminder(
        self, submission: SubmissionRow, next_at: datetime, outgoing: Sequence[Outgoing]
    ) -> None:
        """Queue a reminder and set the next one, in one transaction."""
        at = next_at.astimezone(UTC).isoformat(timespec="seconds")

        def remind(db: Db) -> None:
            db.execute(
                "UPDATE submissions SET remind_at = ? WHERE id = ? AND decision IS NULL",
                (at, submission.id),
            )
            self._enqueue_in(db, outgoing, submission.id)
            self._audit_in(
                db, "bot", "reminder", submission.public_id, {"version": submission.version}
            )

        await self._write(remind)
