"""The `natars-bot` command line: a thin shell around the library.

Errors raised below (NatarsError) become one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from natars_bot import __version__
from natars_bot.cli.checking import _check, _criteria, _protocol_option, _schema
from natars_bot.cli.exits import EXIT_INPUT, EXIT_OK
from natars_bot.cli.records import (
    _audit_head,
    _audit_show,
    _audit_verify,
    _backup,
    _day,
    _export,
    _restore,
    _stats,
    _users_add,
    _users_list,
    _users_remove,
)
from natars_bot.cli.running import _run, _sandbox
from natars_bot.errors import NatarsError
from natars_bot.store import ROLES

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except NatarsError as exc:
        print(f"natars-bot: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:
        # `natars-bot check big.jsonl | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        return EXIT_OK
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="natars-bot", description="Triage of referrals for the NATARS trial."
    )
    parser.add_argument("--version", action="version", version=f"natars-bot {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="assess referrals given as JSON (object, array or JSON Lines)",
        description="Assess referrals against the protocol and print the verdicts as JSON. "
        "Exit status 0 whatever the verdicts; 2 if any referral could not be read.",
    )
    check.add_argument("file", metavar="FILE", help="referral JSON file, or - for standard input")
    _protocol_option(check)
    check.set_defaults(handler=_check)

    schema = commands.add_parser("schema", help="print the JSON Schema of a referral")
    schema.set_defaults(handler=_schema)

    criteria = commands.add_parser(
        "criteria", help="list the protocol's criteria with their wording and interpretation"
    )
    _protocol_option(criteria)
    criteria.set_defaults(handler=_criteria)

    run = commands.add_parser(
        "run",
        help="run the Telegram bot (settings from NATARS_* environment variables or .env)",
        description="Run the bot with long polling until Ctrl-C. Needs NATARS_TELEGRAM_TOKEN; "
        "NATARS_BOT_API_URL points it at a local Bot API server instead of Telegram.",
    )
    run.set_defaults(handler=_run)

    sandbox = commands.add_parser(
        "sandbox",
        help="try everything offline: a local Bot API server, the bot and a web page",
        description="Start a local Telegram Bot API server, the bot pointed at it and a web page "
        "with a surgeon's chat, the MDT group and a coordinator's chat. Ctrl-C stops it.",
    )
    sandbox.add_argument(
        "--port", type=int, default=8080, help="the web page's port (default 8080)"
    )
    sandbox.add_argument(
        "--database",
        type=Path,
        default=Path("sandbox.sqlite3"),
        help="the sandbox's own SQLite file (default ./sandbox.sqlite3)",
    )
    sandbox.set_defaults(handler=_sandbox)

    _add_record_commands(commands)
    return parser


def _add_record_commands(commands: Any) -> None:
    """Commands about the stored records: users, exports, backups, the audit trail."""
    users = commands.add_parser("users", help="register, list and remove the bot's users")
    user_commands = users.add_subparsers(title="users commands", required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="register a Telegram user in a role")
    add.add_argument("telegram_id", type=int, metavar="TELEGRAM_ID")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--site", help="the user's hospital (referrals carry it)")
    add.add_argument("--name", help="a name for the user list (never sent to a group)")
    add.set_defaults(handler=_users_add)
    listing = user_commands.add_parser("list", help="list registered users")
    listing.set_defaults(handler=_users_list)
    remove = user_commands.add_parser("remove", help="remove a user's role (or every role)")
    remove.add_argument("telegram_id", type=int, metavar="TELEGRAM_ID")
    remove.add_argument("--role", choices=ROLES, help="only this role (default: every role)")
    remove.set_defaults(handler=_users_remove)

    export = commands.add_parser(
        "export", help="write the screening log (one row per version of each assessed referral)"
    )
    export.add_argument(
        "--format",
        choices=("csv", "xlsx", "json", "redcap"),
        default="csv",
        help="redcap: a data dictionary and records for REDCap, written into --output DIR",
    )
    export.add_argument(
        "--since", metavar="YYYY-MM-DD", type=_day, help="referred on or after this local date"
    )
    export.add_argument(
        "--until", metavar="YYYY-MM-DD", type=_day, help="referred on or before this local date"
    )
    export.add_argument("--site", help="one site only")
    export.add_argument(
        "--output", type=Path, help="file to write (default: standard output); a folder for redcap"
    )
    export.set_defaults(handler=_export)

    stats = commands.add_parser(
        "stats", help="screening counts, overall and per site, and the CONSORT-style picture"
    )
    stats.add_argument("--site", help="one site only")
    stats.add_argument("--output", type=Path, help="write the flow diagram: a .png or .svg file")
    stats.set_defaults(handler=_stats)

    backup = commands.add_parser(
        "backup", help="copy the database consistently, even while the bot runs"
    )
    backup.add_argument("path", type=Path, metavar="PATH", help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    backup.set_defaults(handler=_backup)
    restore = commands.add_parser(
        "restore", help="replace the database with a backup (refuses while the bot runs)"
    )
    restore.add_argument("path", type=Path, metavar="PATH", help="the backup file to restore")
    restore.add_argument(
        "--force",
        action="store_true",
        help="restore a backup older than the database's last anchor (never while a bot runs)",
    )
    restore.set_defaults(handler=_restore)

    audit = commands.add_parser("audit", help="check or read the audit trail")
    audit_commands = audit.add_subparsers(title="audit commands", required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify",
        help="check the hash chain, the anchor and the tables against the trail; exit 1 naming"
        " what changed",
    )
    verify.add_argument(
        "--anchor",
        metavar="ROWS:HASH|FILE",
        help="the head `audit head` printed (or an anchor file); default: <database>.anchor",
    )
    verify.set_defaults(handler=_audit_verify)
    audit_head = audit_commands.add_parser(
        "head", help="print the trail's head (ROWS:HASH), to keep where the database is not"
    )
    audit_head.add_argument("--output", type=Path, help="also write it to this anchor file")
    audit_head.set_defaults(handler=_audit_head)
    show = audit_commands.add_parser("show", help="print one referral's history")
    show.add_argument("referral", metavar="REFERRAL_ID", help="e.g. NAT-2026-0007")
    show.set_defaults(handler=_audit_show)
