"""Coordinators' benchmark: a 100,000-referral database, its export, and /cases.

    python -m benchmarks.export [--count N]

Targets (issue #5): the CSV export of 100,000 referrals in under 5 s with peak memory under
100 MB (measured on the `natars-bot export` process); `/cases` answered in under 50 ms (the
handler's database work and rendering, measured in-process). Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.evaluate import generate
from natars_bot.dialogue.flow import default_flow
from natars_bot.dialogue.wording import default_wording
from natars_bot.store import Store

SITES = [
    "Beijing Friendship Hospital", "Peking University First Hospital",
    "The Affiliated Hospital of Qingdao University", "Shanghai Cancer Hospital, Minhang Branch",
    "Shanghai Zhongshan Hospital", "First Affiliated Hospital Xi'an Jiaotong University",
]  # fmt: skip
EXPORT_TARGET_S, MEMORY_TARGET_MB, CASES_TARGET_MS = 5.0, 100, 50


async def _schema(path: Path) -> None:
    store = await Store.open(path)
    await store.close()


def populate(path: Path, count: int, seed: int = 7) -> None:
    """Fill a fresh database with `count` referrals, most submitted and voted on."""
    asyncio.run(_schema(path))
    rng = random.Random(seed)
    documents = generate(count, seed)
    db = sqlite3.connect(path)
    with db:
        for n, doc in enumerate(documents, start=1):
            answers = {k: v for k, v in doc.items() if k not in ("referral_id", "site")}
            state = json.dumps({"answers": answers, "order": list(answers)})
            status = rng.choice(["screen_failed", "submitted", "approved", "declined", "more_info"])
            at = f"2026-{1 + n % 11:02d}-{1 + n % 28:02d}T10:00:00+00:00"
            db.execute(
                "INSERT INTO referrals (id, public_id, surgeon_id, site, status, version,"
                " histology, state, verdict, failed, unknown, protocol, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 1, ?, ?, 'needs_review', '[]', '[\"INC-09\"]', 'v1',"
                " ?, ?)",
                (n, f"NAT-2026-{n:06d}", 1000 + n % 50, SITES[n % 6], status, doc.get("histology"),
                 state, at, at),
            )  # fmt: skip
            if status != "screen_failed":
                decision = status if status != "submitted" else None
                db.execute(
                    "INSERT INTO submissions (id, referral_id, version, state, verdict,"
                    " failed, unknown, protocol, submitted_at, decision)"
                    " VALUES (?, ?, 1, ?, 'needs_review', '[]', '[]', 'v1', ?, ?)",
                    (n, n, state, at, decision),
                )
                for reviewer in range(rng.randint(0, 3)):
                    db.execute(
                        "INSERT INTO votes VALUES (?, ?, 'approve', NULL, ?)",
                        (n, 3000 + reviewer, at),
                    )
    db.close()


async def time_cases(path: Path, rounds: int = 20) -> float:
    """Median ms for the database work and rendering behind one /cases page."""
    wording = default_wording(default_flow().languages)
    store = await Store.open(path)
    timings = []
    for n in range(rounds):
        started = time.perf_counter()
        sites = await store.sites()
        rows, _ = await store.cases(
            status="approved" if n % 2 else None, site=sites[n % len(sites)], offset=10 * n
        )
        wording.render(
            "cases.html.j2", "en", first=1, last=len(rows), filters="",
            cases=[{"public_id": r.public_id, "site": r.site, "histology": None, "status": r.status,
                    "date": r.created_at[:10]} for r in rows],
        )  # fmt: skip
        timings.append((time.perf_counter() - started) * 1000)
    await store.close()
    return sorted(timings)[len(timings) // 2]


def main() -> None:
    """Build the database, then time the export and /cases."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        started = time.perf_counter()
        populate(database, args.count)
        print(f"database: {args.count:,} referrals in {time.perf_counter() - started:.1f} s, "
              f"{database.stat().st_size / 1e6:.0f} MB")  # fmt: skip
        output = Path(folder) / "log.csv"
        env = {**os.environ, "NATARS_DATABASE": str(database)}
        # The child reports its own peak (VmHWM): ru_maxrss survives exec, so it would count
        # this large process's pages that the child shared between fork and exec.
        child = (
            "import re, sys; from natars_bot.cli import main; status = main(sys.argv[1:]);"
            " hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1);"
            " print(hwm, file=sys.stderr); sys.exit(status)"
        )
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", child, "export", "--format", "csv", "--output", str(output)],
            env=env, check=True, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        peak_mb = int(done.stderr.strip().splitlines()[-1]) / 1024
        lines = output.read_bytes().count(b"\n") - 1
        ok = "meets" if elapsed < EXPORT_TARGET_S and peak_mb < MEMORY_TARGET_MB else "MISSES"
        print(f"export: {lines:,} rows to CSV in {elapsed:.2f} s, peak {peak_mb:.0f} MB "
              f"({ok} the {EXPORT_TARGET_S:g} s / {MEMORY_TARGET_MB} MB target)")  # fmt: skip
        median = asyncio.run(time_cases(database))
        ok = "meets" if median < CASES_TARGET_MS else "MISSES"
        print(f"/cases: {median:.1f} ms median per page ({ok} the {CASES_TARGET_MS} ms target)")


if __name__ == "__main__":
    main()
