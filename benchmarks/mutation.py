"""Mutation testing of the pure core with mutmut: do the tests fail when the code is wrong?

    python -m benchmarks.mutation                      # every core module (about 15–30 min)
    python -m benchmarks.mutation natars_bot/mdt/rules.py    # only some modules
    python -m benchmarks.mutation --keep /tmp/mut      # keep mutmut's folder (mutmut browse)

mutmut (a dev extra) changes one small thing at a time in a module — a `<` for a `<=`, a
constant, a dropped argument — and runs the tests that cover it; a mutant the tests do not
notice *survives*. The run happens in a copy of the working tree, so the checkout is never
touched, against the core's own unit tests (the end-to-end tests add minutes per mutant and
nothing for these modules). It prints, per module, the mutants, how many the tests killed and
the score, and writes the survivors' names to `survivors.txt` in the copy (with `--keep`, look at
one with `mutmut show NAME` there). Target (issue #19): at least 90 % killed in each module.
A benchmark, not a CI step: it takes longer than CI should.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

__all__ = ["CORE", "TESTS", "main", "scores"]

ROOT = Path(__file__).resolve().parents[1]
# The pure core: protocol engine, answer reading, dialogue engine, MDT rules, audit hash.
CORE = (
    "natars_bot/protocol/conditions.py",
    "natars_bot/protocol/criteria.py",
    "natars_bot/protocol/eligibility.py",
    "natars_bot/protocol/sft.py",
    "natars_bot/dialogue/answers.py",
    "natars_bot/dialogue/engine.py",
    "natars_bot/mdt/rules.py",
    "natars_bot/audit/chain.py",
)
TESTS = (
    "tests/test_conditions.py",
    "tests/test_criteria.py",
    "tests/test_sft_risk.py",
    "tests/test_sft_table.py",
    "tests/test_protocol_definition.py",
    "tests/test_protocol_loader.py",
    "tests/test_verdict.py",
    "tests/test_eligibility_details.py",
    "tests/test_properties.py",
    "tests/test_referral_model.py",
    "tests/test_answers.py",
    "tests/test_dialogue.py",
    "tests/test_flow.py",
    "tests/test_groups.py",  # the checklist, rows, shortcut and progress over the engine (#18)
    "tests/test_engine_steps.py",
    "tests/test_mdt_rules.py",
    "tests/test_audit.py",
)
# How mutmut's exit codes count: a mutant a test or the type check caught, or that made the
# tests hang, is killed; one the tests ran against and passed survived.
KILLED = {1, 3, 36, 37, -24, 24, 152, 255}
SURVIVED = {0}


def _copy_tree(target: Path) -> None:
    """The working tree (what git tracks, plus untracked files not ignored) into `target`."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _configure(target: Path, modules: list[str]) -> None:
    """mutmut reads setup.cfg's [mutmut] section (the copy has no other setup.cfg)."""

    def listed(name: str, values: list[str] | tuple[str, ...]) -> str:
        # setup.cfg's lists: one value a line, indented under the key.
        return f"{name}=\n" + "".join(f"    {value}\n" for value in values)

    (target / "setup.cfg").write_text(
        "[mutmut]\n"
        + listed("source_paths", ["natars_bot/"])
        + listed("only_mutate", modules)
        + listed("also_copy", ["conversations/", "templates/", "examples/"])
        + listed("pytest_add_cli_args_test_selection", TESTS)
        + listed("pytest_add_cli_args", ["-p", "no:cacheprovider"]),
        encoding="utf-8",
    )


def scores(folder: Path, modules: list[str]) -> dict[str, Counter[str]]:
    """Per module: mutants killed, survived and otherwise (no test covers them, not run)."""
    result: dict[str, Counter[str]] = {}
    for module in modules:
        meta = folder / "mutants" / f"{module}.meta"
        counts: Counter[str] = Counter()
        if meta.exists():
            codes = json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {})
            for code in codes.values():
                counts[
                    "killed" if code in KILLED else "survived" if code in SURVIVED else "other"
                ] += 1
        result[module] = counts
    return result


def _survivors(folder: Path, modules: list[str]) -> list[str]:
    names = []
    for module in modules:
        meta = folder / "mutants" / f"{module}.meta"
        if meta.exists():
            codes = json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {})
            names += [name for name, code in codes.items() if code not in KILLED]
    return sorted(names)


def main(argv: list[str] | None = None) -> int:
    """Run mutmut on the core (or the modules named) and print the score per module."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutation", description=__doc__)
    parser.add_argument("modules", nargs="*", default=list(CORE), help="modules to mutate")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    modules = [str(m) for m in args.modules]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="natars-mutation-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _copy_tree(folder)
        _configure(folder, modules)
        environment = {k: v for k, v in os.environ.items() if k != "CI"}
        environment["NO_PROXY"] = "127.0.0.1,localhost"
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
            cwd=folder,
            env=environment,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        table = scores(folder, modules)
        survivors = _survivors(folder, modules)
        (folder / "survivors.txt").write_text("\n".join(survivors) + "\n", encoding="utf-8")
        print(f"{'module':34}{'mutants':>9}{'killed':>8}{'survived':>10}{'other':>7}{'score':>8}")
        worst = 100.0
        for module, counts in table.items():
            total = sum(counts.values())
            score = 100 * counts["killed"] / total if total else 0.0
            worst = min(worst, score)
            print(
                f"{module:34}{total:>9}{counts['killed']:>8}{counts['survived']:>10}"
                f"{counts['other']:>7}{score:>7.1f}%"
            )
        print(f"{len(survivors)} mutants not killed: {folder / 'survivors.txt'}")
        if run.returncode != 0:
            print(f"mutmut exited with {run.returncode}", file=sys.stderr)
            return run.returncode
        return 0 if worst >= 90.0 else 1
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
