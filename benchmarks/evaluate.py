"""Eligibility engine benchmark: 100,000 generated referrals, in-process and through `check`.

    python -m benchmarks.evaluate [--count N] [--seed S]

Targets (issue #2): ≥ 50,000 evaluations/s in-process on one core; a 100,000-line JSON Lines file
checked end to end by `natars-bot check` in under 5 s. Figures are printed, not asserted: the
machine's load changes them (see the README for the latest).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from natars_bot.protocol.eligibility import evaluate
from natars_bot.protocol.referral import Referral

IN_PROCESS_TARGET = 50_000  # evaluations per second
END_TO_END_TARGET = 5.0  # seconds for 100,000 lines

_CHOICES: dict[str, list[Any]] = {
    "sex": ["female", "male"],
    "histology": ["DDLPS", "LMS", "UPS", "SFT", "WDLPS", "other"],
    "origin": ["retroperitoneum", "retroperitoneum", "retroperitoneum", "gi_tract", "uterus"],
    "ihc_mdm2": ["positive", "positive", "negative", "not_done"],
    "ihc_cdk4": ["positive", "positive", "negative", "not_done"],
    "fish_mdm2": ["amplified", "not_amplified", "not_done"],
    "metastasis": ["none", "none", "equivocal", "highly_suspicious", "confirmed"],
    "r0_r1_resectable": ["yes", "no", "not_assessed"],
    "fit_for_chemo_and_surgery": ["yes", "no", "not_assessed"],
    "organ_function": ["normal", "slight_recoverable", "persistent_dysfunction"],
    "consent": ["signed", "pending", "declined"],
}
_BOOLEANS = [
    "histologically_proven",
    "prior_resection",
    "prior_chemotherapy",
    "prior_radiotherapy",
    "prior_targeted_therapy",
    "prior_anthracycline_or_ifosfamide",
    "second_malignancy",
    "crosses_diaphragm",
    "chest_cavity_protrusion",
    "pet_ct_done",
    "severe_event_last_6_months",
    "infection_or_bleeding_surgery_last_month",
    "pregnant_or_breastfeeding",
    "unwilling_contraception",
    "psychological_condition",
]


def generate(count: int, seed: int) -> list[dict[str, Any]]:
    """Referral documents as a surgeon's dialogue might leave them: varied, some fields missing."""
    rng = random.Random(seed)
    documents = []
    for n in range(count):
        doc: dict[str, Any] = {"referral_id": f"BENCH-{n:06d}"}
        for field, values in _CHOICES.items():
            doc[field] = rng.choice(values)
        for field in _BOOLEANS:
            doc[field] = rng.random() < 0.04
        doc["age_years"] = rng.randint(16, 82)
        doc["grade"] = rng.randint(1, 3)
        doc["tumor_size_cm"] = round(rng.uniform(3, 35), 1)
        doc["asa_class"] = rng.randint(1, 5)
        doc["sft_mitoses_per_2mm2"] = rng.randint(0, 8)
        doc["sft_necrosis_percent"] = float(rng.choice([0, 5, 10, 30]))
        for field in rng.sample(sorted(doc), k=rng.randint(0, 6)):
            if field != "referral_id":
                del doc[field]  # not known yet
        if doc.get("sex") == "male" and doc.get("pregnant_or_breastfeeding"):
            doc["pregnant_or_breastfeeding"] = False  # refused as input (spec revision 2)
        documents.append(doc)
    return documents


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    documents = generate(args.count, args.seed)
    referrals = [Referral.model_validate(doc) for doc in documents]
    started = time.perf_counter()
    verdicts: dict[str, int] = {}
    for referral in referrals:
        verdict = evaluate(referral).verdict.value
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    in_process = time.perf_counter() - started
    rate = args.count / in_process

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "referrals.jsonl"
        path.write_text("".join(json.dumps(doc) + "\n" for doc in documents), encoding="utf-8")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "natars_bot", "check", str(path)],
            stdout=subprocess.PIPE,
            check=True,
        )
        end_to_end = time.perf_counter() - started
    lines = done.stdout.count(b"\n")
    if lines != args.count:
        raise SystemExit(f"check printed {lines} verdicts for {args.count} referrals")

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"verdicts: {dict(sorted(verdicts.items()))}")
    ok = "meets" if rate >= IN_PROCESS_TARGET else "MISSES"
    print(
        f"in-process: {args.count:,} evaluations in {in_process:.2f} s = {rate:,.0f}/s "
        f"({ok} the {IN_PROCESS_TARGET:,}/s target)"
    )
    scaled = end_to_end * 100_000 / args.count
    ok = "meets" if scaled < END_TO_END_TARGET else "MISSES"
    print(
        f"natars-bot check: {args.count:,} JSON Lines in {end_to_end:.2f} s end to end, "
        f"{args.count / end_to_end:,.0f} lines/s ({ok} the {END_TO_END_TARGET:g} s per 100k target)"
    )


if __name__ == "__main__":
    main()
