"""The README is the contract with a new user: every path it names exists, and CI runs exactly
its test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
_TOP = ("natars_bot", "benchmarks", "tests", "deploy", "conversations", "templates", "docs",
        "examples", ".ci")  # fmt: skip
_PATH = re.compile(r"`((?:" + "|".join(re.escape(t) for t in _TOP) + r")/[^`\s]*)`")


def test_every_path_the_readme_names_exists() -> None:
    named = sorted(set(_PATH.findall(README)))
    assert named, "the README names no path: the pattern is wrong"
    missing = [path for path in named if not (ROOT / path.rstrip("/")).exists()]
    assert missing == []


def test_ci_runs_the_readmes_test_command() -> None:
    """`.ci/run` calls the README's second command word for word."""
    commands = re.findall(r"```sh\n(?:#[^\n]*\n)?(python3 -m venv[^\n]+)\n```", README)
    assert len(commands) == 2, commands
    assert commands[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
