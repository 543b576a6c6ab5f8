"""The `natars-bot` command line: a thin shell around the library.

Errors raised below (NatarsError) become one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from natars_bot import __version__
from natars_bot.audit.chain import Anchor, head, parse_anchor, verify_anchor, verify_chain
from natars_bot.audit.replay import TrailRow, reconcile
from natars_bot.errors import ConfigError, InputError, NatarsError
from natars_bot.files import open_private, private_database
from natars_bot.logs import configure_logging
from natars_bot.protocol.batch import check_lines
from natars_bot.protocol.checking import (
    InputShape,
    assessment_json,
    detect_shape,
    numbered_lines,
    read_referrals,
)
from natars_bot.protocol.criteria import Protocol, default_protocol, load_protocol
from natars_bot.protocol.eligibility import evaluate
from natars_bot.protocol.referral import referral_json_schema
from natars_bot.settings import load_settings
from natars_bot.store import ROLES, Store

__all__ = ["main"]

EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_INPUT = 2


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


def _protocol_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol",
        metavar="YAML",
        help="protocol definition file (default: the NATARS criteria shipped with natars-bot)",
    )


def _load(args: argparse.Namespace) -> Protocol:
    return load_protocol(args.protocol) if args.protocol else default_protocol()


def _check(args: argparse.Namespace) -> int:
    """Print one verdict per readable referral; report unreadable ones on stderr."""
    protocol = _load(args)
    text = _read_text(args.file).removeprefix("\ufeff")
    shape = detect_shape(text)
    out: TextIO = sys.stdout
    errors = 0
    if shape is InputShape.lines:
        for verdicts, problems in check_lines(numbered_lines(text), args.protocol):
            for problem in problems:
                print(f"natars-bot: {problem}", file=sys.stderr)
            errors += len(problems)
            out.buffer.write(verdicts)
            out.buffer.flush()
        return EXIT_INPUT if errors else EXIT_OK

    documents = []
    for record in read_referrals(text)[1]:
        if record.referral is None:
            print(f"natars-bot: {record.error}", file=sys.stderr)
            errors += 1
        else:
            documents.append(assessment_json(record.referral, evaluate(record.referral, protocol)))
    if errors:
        # An object or an array is one document: printed whole, or (with any bad record) not at all.
        return EXIT_INPUT
    json.dump(
        documents[0] if shape is InputShape.object else documents, out, ensure_ascii=False, indent=2
    )
    out.write("\n")
    return EXIT_OK


def _read_text(name: str) -> str:
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name} is not UTF-8 text (byte {exc.start})") from exc


def _schema(args: argparse.Namespace) -> int:
    """Print the referral JSON Schema. This is a read-only operation."""
    json.dump(referral_json_schema(), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _criteria(args: argparse.Namespace) -> int:
    """Print every criterion with its wording and the product's interpretation."""
    protocol = _load(args)
    print(f"{protocol.version} ({protocol.registry})")
    for criterion in protocol.criteria:
        print(f"\n{criterion.id}  {criterion.summary}")
        print(f"  protocol: {criterion.wording}")
        if criterion.interpretation:
            print(f"  interpretation: {criterion.interpretation}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    """Run the bot until interrupted."""
    from telegram.error import InvalidToken, NetworkError  # noqa: PLC0415 - slow import, run only

    from natars_bot.bot.app import build_application  # noqa: PLC0415
    from natars_bot.bot.startup import wait_for_api  # noqa: PLC0415

    settings = load_settings()
    token = settings.token()
    configure_logging(token, fmt=settings.log_format)
    application = build_application(settings)
    # One event loop for the wait and the bot (run_polling takes the current one).
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(wait_for_api(settings))
    except KeyboardInterrupt:
        return EXIT_OK
    try:
        application.run_polling(allowed_updates=["message", "callback_query"])
    except InvalidToken as exc:
        raise ConfigError("NATARS_TELEGRAM_TOKEN was refused by the Bot API") from exc
    except NetworkError as exc:
        raise ConfigError(f"cannot reach the Bot API at {settings.bot_api_url}: {exc}") from exc
    return EXIT_OK


def _sandbox(args: argparse.Namespace) -> int:
    """Run the offline sandbox until Ctrl-C."""
    from natars_bot.sandbox.page import run_sandbox  # noqa: PLC0415 - pulls in ptb and aiohttp

    asyncio.run(run_sandbox(args.database, args.port))
    return EXIT_OK


async def _with_store(action: Callable[[Store], Awaitable[int]]) -> int:
    store = await Store.open(private_database(load_settings().database))
    try:
        return await action(store)
    finally:
        await store.close()


def _users_add(args: argparse.Namespace) -> int:
    """Register a role; says what was stored."""

    async def add(store: Store) -> int:
        user = await store.add_user(
            args.telegram_id, args.role, site=args.site, name=args.name, actor="cli"
        )
        print(f"{user.telegram_id} is a {user.role}" + (f" at {user.site}" if user.site else ""))
        return EXIT_OK

    return asyncio.run(_with_store(add))


def _users_list(args: argparse.Namespace) -> int:
    """Print the registered users. This is a read-only operation."""

    async def listing(store: Store) -> int:
        users = await store.users()
        if not users:
            print("no users yet: natars-bot users add TELEGRAM_ID --role surgeon --site ...")
        for user in users:
            fields = (user.telegram_id, user.role, user.site, user.name, user.added_at)
            print("\t".join(str(value or "-") for value in fields))
        return EXIT_OK

    return asyncio.run(_with_store(listing))


def _users_remove(args: argparse.Namespace) -> int:
    """Remove a role, or every role, of a user."""

    async def remove(store: Store) -> int:
        removed = await store.remove_user(args.telegram_id, args.role, actor="cli")
        print(f"removed {removed} role(s) of {args.telegram_id}")
        return EXIT_OK

    return asyncio.run(_with_store(remove))


def _day(text: str) -> date:
    """A YYYY-MM-DD argument (argparse names it in a one-line error otherwise)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _export(args: argparse.Namespace) -> int:
    """Stream the screening log to a file or stdout; the export is audited. Dates (in the
    log and of --since/--until) are those of NATARS_TIMEZONE."""
    from natars_bot.reports.exports import write_log  # noqa: PLC0415

    if args.format == "xlsx" and args.output is None:
        raise InputError("an XLSX export needs --output FILE.xlsx")
    zone = load_settings().zone()
    if args.format == "redcap":
        return _export_redcap(args, zone)

    async def export(store: Store) -> int:
        assert store.path is not None
        target = open_private(args.output) if args.output else sys.stdout.buffer
        try:
            count = await asyncio.to_thread(
                write_log,
                store.path,
                default_protocol(),
                args.format,
                target,
                zone=zone,
                since=args.since,
                until=args.until,
                site=args.site,
                progress=_progress_bar() if args.output and sys.stderr.isatty() else None,
            )
        finally:
            if args.output:
                target.close()
            else:
                target.flush()
        await store.record(
            "cli",
            "export",
            {"format": args.format, "rows": count.rows, "site": args.site},
        )
        if args.output:
            print(
                f"\r{count.rows:,} rows ({count.referrals:,} referrals) written to {args.output}",
                file=sys.stderr,
            )
        return EXIT_OK

    return asyncio.run(_with_store(export))


def _export_redcap(args: argparse.Namespace, zone: ZoneInfo) -> int:
    """The REDCap data dictionary and records, two files in the --output folder; audited."""
    from natars_bot.reports.exports import REDCAP_FILES, write_redcap  # noqa: PLC0415

    if args.output is None:
        raise InputError("a REDCap export needs --output FOLDER (two files are written)")
    args.output.mkdir(parents=True, exist_ok=True)
    paths = [args.output / name for name in REDCAP_FILES]

    async def export(store: Store) -> int:
        assert store.path is not None
        with open_private(paths[0]) as dictionary, open_private(paths[1]) as records:
            written = await asyncio.to_thread(
                write_redcap,
                store.path,
                default_protocol(),
                dictionary,
                records,
                zone=zone,
                since=args.since,
                until=args.until,
                site=args.site,
            )
        await store.record(
            "cli", "export", {"format": "redcap", "rows": written.rows, "site": args.site}
        )
        print(
            f"REDCap data dictionary {paths[0]}, {written.rows:,} records {paths[1]}",
            file=sys.stderr,
        )
        return EXIT_OK

    return asyncio.run(_with_store(export))


def _progress_bar() -> Callable[[int], None]:
    """A one-line counter on the terminal (only when stderr is one)."""

    def show(rows: int) -> None:
        print(f"\rexporting… {rows:,} referrals", end="", file=sys.stderr, flush=True)

    return show


def _stats(args: argparse.Namespace) -> int:
    """Print the counts; draw the flow diagram if asked. The request is audited."""
    from natars_bot.reports.exports import flow_counts  # noqa: PLC0415
    from natars_bot.reports.stats import flow_text  # noqa: PLC0415

    fmt = None
    if args.output is not None:
        fmt = args.output.suffix.lower().lstrip(".")
        if fmt not in ("png", "svg"):
            raise InputError(f"{args.output}: the picture is written as .png or .svg")

    async def stats(store: Store) -> int:
        assert store.path is not None
        overall, sites = await asyncio.to_thread(
            flow_counts, store.path, default_protocol(), site=args.site
        )
        print(flow_text(overall, sites))
        if fmt is not None:
            from natars_bot.reports.consort import render_flow  # noqa: PLC0415 - matplotlib is slow to import

            with open_private(args.output) as picture:
                picture.write(render_flow(overall, sites, fmt))
            print(f"flow diagram written to {args.output}", file=sys.stderr)
        await store.record("cli", "stats", {"site": args.site, "picture": fmt})
        return EXIT_OK

    return asyncio.run(_with_store(stats))


def _backup(args: argparse.Namespace) -> int:
    """Take a consistent copy with SQLite's online backup and check its audit chain."""
    from natars_bot.store.backup import backup  # noqa: PLC0415

    database = load_settings().database
    rows = backup(database, args.path, force=args.force)
    print(f"backed up {database} to {args.path} ({rows} audit rows, chain intact)")
    return EXIT_OK


def _restore(args: argparse.Namespace) -> int:
    """Restore a checked backup over the configured database."""
    from natars_bot.store.backup import restore  # noqa: PLC0415

    database = load_settings().database
    rows = restore(args.path, database, force=args.force)
    print(f"restored {database} from {args.path} ({rows} audit rows, chain intact)")
    return EXIT_OK


def _audit_verify(args: argparse.Namespace) -> int:
    """Check the hash chain, that the trail extends the anchor, and that the state tables say
    what the trail does. This is a read-only operation."""
    from natars_bot.store.backup import anchor_path, read_anchor  # noqa: PLC0415

    database = load_settings().database
    if args.anchor is None:
        anchor, source = read_anchor(database), str(anchor_path(database))
    else:
        anchor, source = _anchor_argument(args.anchor), args.anchor

    async def verify(store: Store) -> int:
        rows = await store.audit_chain()
        problems = []
        broken = verify_chain(rows)
        if broken is None and anchor is not None:
            broken = verify_anchor(rows, anchor)
        if broken is not None:
            problems.append(f"audit trail broken at row {broken.row_id}: {broken.reason}")
        trail = [
            TrailRow(r.actor, r.action, r.referral, r.detail) for r in await store.audit_rows()
        ]
        problems += reconcile(trail, await store.recorded_state())
        for problem in problems:
            print(f"natars-bot: {problem}", file=sys.stderr)
        if problems:
            return EXIT_BROKEN
        checked = f", extends the anchor {anchor} ({source})" if anchor else ", no anchor"
        print(f"audit trail intact: {len(rows)} rows{checked}; the tables agree with it")
        return EXIT_OK

    return asyncio.run(_with_store(verify))


def _anchor_argument(text: str) -> Anchor:
    """--anchor: ROWS:HASH, or the path of an anchor file."""
    path = Path(text)
    try:
        return parse_anchor(path.read_text(encoding="utf-8") if path.is_file() else text)
    except ValueError as exc:
        raise InputError(f"--anchor {text}: {exc}") from exc


def _audit_head(args: argparse.Namespace) -> int:
    """Print the trail's head; with --output, write it as an anchor file (0600). This reads
    the database only."""

    async def show(store: Store) -> int:
        anchor = head(await store.audit_chain())
        if args.output is not None:
            with open_private(args.output) as file:
                file.write(anchor.to_json().encode("utf-8"))
        print(anchor)
        return EXIT_OK

    return asyncio.run(_with_store(show))


def _audit_show(args: argparse.Namespace) -> int:
    """Print a referral's audit history, oldest first. This is a read-only operation."""

    async def show(store: Store) -> int:
        rows = await store.audit_rows(args.referral)
        if not rows:
            raise InputError(f"no audit rows for {args.referral}")
        for row in rows:
            detail = json.dumps(row.detail, ensure_ascii=False, sort_keys=True)
            print(f"{row.at}\t{row.actor}\t{row.action}\t{detail}")
        return EXIT_OK

    return asyncio.run(_with_store(show))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
