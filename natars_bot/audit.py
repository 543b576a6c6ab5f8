"""The audit trail's hash chain, checked: each row's hash covers its content and the previous hash.

Pure: rows in, the first broken row out. The store writes the chain (store.audit_hash); an edited
row no longer matches its own hash, and a deleted row breaks the next row's link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["GENESIS_HASH", "Break", "audit_hash", "verify_chain"]

GENESIS_HASH = "0" * 64


def audit_hash(
    prev_hash: str, at: str, actor: str, action: str, referral: str | None, detail: str
) -> str:
    """The hash of an audit row: its content and the previous row's hash."""
    content = json.dumps([prev_hash, at, actor, action, referral, detail], ensure_ascii=False)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain breaks, and why."""

    row_id: int
    reason: str


AuditTuple = tuple[int, str, str, str, str | None, str, str, str]


def verify_chain(rows: Iterable[AuditTuple]) -> Break | None:
    """Check rows (id, at, actor, action, referral, detail, prev_hash, hash) in id order."""
    previous = GENESIS_HASH
    for row_id, at, actor, action, referral, detail, prev_hash, stored in rows:
        if prev_hash != previous:
            return Break(row_id, "does not follow the row before it (a row was deleted or altered)")
        if audit_hash(prev_hash, at, actor, action, referral, detail) != stored:
            return Break(row_id, "its content does not match its hash (the row was edited)")
        previous = stored
    return None
