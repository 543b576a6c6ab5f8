"""The database schema, as numbered migrations (PRAGMA user_version holds the number applied)."""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: tuple[str, ...] = (
    # 1: users, referrals and their dialogue state, MDT submissions and votes, the outbox,
    # the audit chain
    """
    CREATE TABLE users (
        telegram_id INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('surgeon', 'reviewer', 'coordinator', 'admin')),
        site TEXT,
        name TEXT,
        added_at TEXT NOT NULL,
        PRIMARY KEY (telegram_id, role)
    );
    CREATE TABLE preferences (
        telegram_id INTEGER PRIMARY KEY,
        language TEXT NOT NULL
    );
    CREATE TABLE referrals (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        surgeon_id INTEGER NOT NULL,
        site TEXT,
        status TEXT NOT NULL CHECK (status IN (
            'draft', 'screen_failed', 'cancelled', 'submitted', 'more_info', 'approved', 'declined'
        )),
        version INTEGER NOT NULL DEFAULT 1,
        histology TEXT,
        state TEXT NOT NULL,
        message_id INTEGER,
        verdict TEXT,
        failed TEXT,
        unknown TEXT,
        protocol TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        submitted_at TEXT
    );
    CREATE UNIQUE INDEX one_draft_per_surgeon ON referrals (surgeon_id) WHERE status = 'draft';
    CREATE INDEX referrals_by_surgeon ON referrals (surgeon_id, id);
    CREATE INDEX referrals_by_status ON referrals (status, id);
    CREATE INDEX referrals_by_site ON referrals (site, id);
    CREATE INDEX referrals_by_histology ON referrals (histology, id);
    CREATE TABLE submissions (
        id INTEGER PRIMARY KEY,
        referral_id INTEGER NOT NULL REFERENCES referrals (id),
        version INTEGER NOT NULL,
        state TEXT NOT NULL,
        verdict TEXT NOT NULL,
        failed TEXT NOT NULL,
        unknown TEXT NOT NULL,
        protocol TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        mdt_chat_id INTEGER,
        mdt_message_id INTEGER,
        decision TEXT CHECK (decision IN ('approved', 'declined', 'more_info')),
        decided_at TEXT,
        remind_at TEXT,
        UNIQUE (referral_id, version)
    );
    CREATE INDEX submissions_open ON submissions (remind_at) WHERE decision IS NULL;
    CREATE TABLE votes (
        submission_id INTEGER NOT NULL REFERENCES submissions (id),
        reviewer_id INTEGER NOT NULL,
        vote TEXT NOT NULL CHECK (vote IN ('approve', 'not_eligible', 'discuss', 'more_info')),
        reason TEXT,
        voted_at TEXT NOT NULL,
        PRIMARY KEY (submission_id, reviewer_id)
    );
    CREATE TABLE reason_prompts (
        chat_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        submission_id INTEGER NOT NULL REFERENCES submissions (id),
        reviewer_id INTEGER NOT NULL,
        vote TEXT NOT NULL,
        PRIMARY KEY (chat_id, message_id)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('summary', 'message', 'tally')),
        chat_id INTEGER,
        text TEXT NOT NULL,
        markup TEXT,
        submission_id INTEGER REFERENCES submissions (id),
        reply_to_summary INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sent', 'uncertain', 'failed', 'superseded')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        message_id INTEGER,
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE status = 'pending';
    CREATE TABLE bot_state (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        referral TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    """,
    # 2: which screen of a draft's dialogue reached the chat, and in which message first (a
    # typed answer is taken only for a screen that did, written after it did), and the
    # updates already handled, by id *and* content: update ids restart at 1 on a new local
    # Bot API server, and Telegram may make them random after a week without updates, so
    # "at or below the largest seen" is no test of a repeat.
    """
    ALTER TABLE referrals ADD COLUMN shown_screen INTEGER;
    ALTER TABLE referrals ADD COLUMN shown_from INTEGER;
    CREATE TABLE handled_updates (
        update_id INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        handled_at TEXT NOT NULL,
        PRIMARY KEY (update_id, fingerprint)
    ) WITHOUT ROWID;
    CREATE INDEX handled_updates_by_time ON handled_updates (handled_at);
    DELETE FROM bot_state WHERE key = 'last_update_id';
    """,
    # 3: refusals of unregistered users, audited once per user per hour: the hour's first
    # refusal is an audit row carrying how many went unrecorded in the hour before, the rest
    # only count here (strangers must not grow the hash-chained trail without bound).
    """
    CREATE TABLE refusal_windows (
        telegram_id INTEGER PRIMARY KEY,
        window_start TEXT NOT NULL,
        suppressed INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 4: when an outbox row's Bot API call began (committed before the call, cleared with its
    # outcome): a row still marked after a crash may have reached Telegram, and is reconciled
    # as uncertain instead of being sent again blindly.
    """
    ALTER TABLE outbox ADD COLUMN sending_at TEXT;
    """,
)
