"""The audit trail's hash chain, checked: each row's hash covers its content and the previous hash.

Pure: rows in, the first broken row out. The store writes the chain (store.audit_hash); an edited
row no longer matches its own hash, and a deleted row breaks the next row's link.

A chain checks itself only: whoever can write the database can truncate it, or edit a row and
recompute every hash after it, and it verifies again. An *anchor* — the chain's head (how many
rows, the last hash) kept where a database writer cannot reach it — closes that: a trail that is
shorter than the anchor, or whose row at the anchor's position has another hash, is not the
trail the anchor saw.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "GENESIS_HASH",
    "Anchor",
    "AuditTuple",
    "Break",
    "audit_hash",
    "head",
    "parse_anchor",
    "verify_anchor",
    "verify_chain",
]

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


@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain's head as published: `rows` rows, the last with hash `hash`."""

    rows: int
    hash: str

    def __str__(self) -> str:
        return f"{self.rows}:{self.hash}"

    def to_json(self) -> str:
        """The anchor as a sidecar file holds it."""
        return json.dumps({"rows": self.rows, "hash": self.hash}) + "\n"


_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def head(rows: Sequence[AuditTuple]) -> Anchor:
    """The anchor of a trail (rows in id order): its length and last hash."""
    return Anchor(len(rows), rows[-1][7] if rows else GENESIS_HASH)


def parse_anchor(text: str) -> Anchor:
    """`ROWS:HASH` as `audit head` prints it, or a sidecar file's JSON; ValueError otherwise."""
    text = text.strip()
    match = _ANCHOR.match(text)
    if match:
        return Anchor(int(match[1]), match[2])
    try:
        data = json.loads(text)
        anchor = Anchor(int(data["rows"]), str(data["hash"]))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError("an anchor is ROWS:HASH (from `audit head`) or an anchor file") from exc
    if not _ANCHOR.match(str(anchor)):
        raise ValueError("an anchor's hash is 64 hexadecimal digits")
    return anchor


def verify_anchor(rows: Sequence[AuditTuple], anchor: Anchor) -> Break | None:
    """Whether a trail (whose chain verifies) extends `anchor`: at least as long, with the
    anchor's hash at the anchor's row. None if it does."""
    if len(rows) < anchor.rows:
        return Break(
            rows[-1][0] if rows else 0,
            f"the trail has {len(rows)} rows, fewer than the {anchor.rows} of the anchor"
            " (rows were deleted)",
        )
    if anchor.rows and rows[anchor.rows - 1][7] != anchor.hash:
        return Break(
            rows[anchor.rows - 1][0],
            f"row {anchor.rows} of the trail is not the one the anchor saw"
            " (the trail was rewritten)",
        )
    if not anchor.rows and anchor.hash != GENESIS_HASH:
        return Break(0, "an empty anchor with a hash")
    return None
