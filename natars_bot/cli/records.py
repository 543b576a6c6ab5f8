"""The record from the command line: `users`, `export`, `stats`, `backup`, `restore`, `audit`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from natars_bot.audit.chain import Anchor, head, parse_anchor, verify_anchor, verify_chain
from natars_bot.audit.replay import TrailRow, reconcile
from natars_bot.cli.exits import EXIT_BROKEN, EXIT_OK
from natars_bot.errors import InputError
from natars_bot.files import open_private, private_database
from natars_bot.protocol.criteria import default_protocol
from natars_bot.settings import load_settings
from natars_bot.store import Store


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
