"""The database schema, as numbered migrations (PRAGMA user_version holds the number applied)."""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: tuple[str, ...] = (
    # 1: users, referrals with their dialogue state, the audit chain
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
        status TEXT NOT NULL
            CHECK (status IN ('draft', 'screen_failed', 'submitted', 'cancelled')),
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
)
