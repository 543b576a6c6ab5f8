"""The deployment files in deploy/: the Dockerfile, compose.yaml and the systemd unit.

These machines have a docker client but no daemon and no compose plugin, so no image is
built here: the Dockerfile and compose.yaml are checked by reading them, and the image's
HEALTHCHECK command is run here against a live health server. The systemd unit is checked by
`systemd-analyze verify` (and its hardening by `systemd-analyze security`) where that command
exists, and by reading it everywhere.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from natars_bot import health
from natars_bot.store import Store

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
UNIT = DEPLOY / "natars-bot.service"


def instructions(path: Path) -> list[tuple[str, str]]:
    """A Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, arguments = line.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions of the last stage (the image that runs)."""
    last = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last:]


def exec_form(arguments: str) -> list[str]:
    """A JSON-array (exec form) argument, as Docker reads it."""
    assert arguments.startswith("["), f"not in exec form: {arguments}"
    return list(yaml.safe_load(arguments))


def env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    """The ENV values set in these instructions (KEY=VALUE form)."""
    values: dict[str, str] = {}
    for keyword, arguments in steps:
        if keyword == "ENV":
            for word in shlex.split(arguments):
                key, _, value = word.partition("=")
                values[key] = value
    return values


def test_dockerfile_base_is_a_pinned_slim_python() -> None:
    steps = instructions(DOCKERFILE)
    args = {}
    for keyword, arguments in steps:
        if keyword == "ARG" and "=" in arguments:
            key, _, value = arguments.partition("=")
            args[key] = value
    bases = [arguments for keyword, arguments in steps if keyword == "FROM"]
    assert bases
    for base in bases:
        image = base.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        # A full version (3.11.N), slim, never a floating tag such as latest or 3.11-slim.
        assert re.fullmatch(
            r"python:3\.1[1-9]\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", image
        ), image


def test_dockerfile_runs_natars_bot_as_a_non_root_user_with_the_database_on_a_volume() -> None:
    stage = final_stage(instructions(DOCKERFILE))
    users = [arguments for keyword, arguments in stage if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    # The user exists in the image: created by the stage's own RUN.
    assert any(keyword == "RUN" and "useradd" in a and user in a for keyword, a in stage)

    volumes = [v for keyword, a in stage if keyword == "VOLUME" for v in exec_form(a)]
    env = env_of(stage)
    database = Path(env["NATARS_DATABASE"])
    assert any(database.is_relative_to(volume) for volume in volumes), (database, volumes)

    entrypoint = [exec_form(a) for keyword, a in stage if keyword == "ENTRYPOINT"]
    command = [exec_form(a) for keyword, a in stage if keyword == "CMD"]
    assert [*entrypoint[-1], *command[-1]] == ["natars-bot", "run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["natars-bot"] == "natars_bot.cli:main"


def test_dockerfile_copies_only_what_exists_and_the_ignore_file_lets_through() -> None:
    steps = instructions(DOCKERFILE)
    allowed = {
        line[1:].rstrip("/")
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = 0
    for keyword, arguments in steps:
        if keyword == "COPY" and not arguments.startswith("--from"):
            *sources, _ = arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") in allowed, source
                copied += 1
    assert copied >= 5


async def test_the_healthcheck_calls_the_health_endpoint(tmp_path: Path) -> None:
    """The HEALTHCHECK's command, with the image's environment, run here against a live health
    server on a real database: 0 while healthy, 1 when unhealthy or not listening."""
    stage = final_stage(instructions(DOCKERFILE))
    checks = [a for keyword, a in stage if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    options, _, command = checks[0].partition("CMD")
    assert "--interval" in options
    argv = exec_form(command.strip())
    assert argv == ["python", "-m", "natars_bot.health"]
    env = env_of(stage)
    assert env["NATARS_HEALTH_PORT"] == "8090"
    exposed = [a for keyword, a in stage if keyword == "EXPOSE"]
    assert exposed == [env["NATARS_HEALTH_PORT"]]

    database = tmp_path / "natars.sqlite3"
    await (await Store.open(database)).close()
    monitor = health.Monitor(
        database,
        health.HealthSettings(health_enabled=True, health_host="127.0.0.1", health_port=0),
    )
    await monitor.start()
    try:
        assert monitor.port is not None
        run_env = {
            **os.environ,
            **{k: v for k, v in env.items() if k.startswith("NATARS_HEALTH")},
            "NATARS_HEALTH_PORT": str(monitor.port),
            "NO_PROXY": "127.0.0.1,localhost",
        }

        async def check() -> int:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *argv[1:],
                env=run_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            return await process.wait()

        assert await check() == 0
        database.unlink()  # the volume went away
        assert await check() == 1
    finally:
        await monitor.stop()
    assert await check() == 1  # nothing listening


def test_compose_example_runs_the_image_with_a_volume_and_the_token_from_a_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    (service,) = compose["services"].values()
    build = service["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    volumes = [mount.split(":") for mount in service["volumes"]]
    assert any(target == "/data" and name in compose["volumes"] for name, target in volumes)
    assert service["env_file"] == "natars-bot.env"
    assert "natars-bot.env" in (DEPLOY / ".gitignore").read_text().split()
    assert "TOKEN" not in str(service.get("environment", ""))
    # The health port only on the host's loopback; nothing else published (long polling).
    assert service["ports"] == ["127.0.0.1:8090:8090"]
    example = (DEPLOY / "natars-bot.env.example").read_text()
    assert re.search(r"^NATARS_TELEGRAM_TOKEN=$", example, re.MULTILINE)


def unit_settings(text: str) -> dict[str, list[str]]:
    """A unit file's settings, by key (all values of repeated keys)."""
    settings: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_essentials() -> None:
    unit = unit_settings(UNIT.read_text())
    user = unit.get("User", [""])[-1]
    assert unit.get("DynamicUser") == ["yes"] or user not in ("", "root", "0"), user
    (state,) = unit["StateDirectory"]
    database = [e for e in unit["Environment"] if e.startswith("NATARS_DATABASE=")]
    assert database == [f"NATARS_DATABASE=/var/lib/{state}/natars.sqlite3"]
    assert unit["EnvironmentFile"] and not unit["EnvironmentFile"][0].startswith("-")
    assert unit["Restart"] == ["on-failure"]
    (start,) = unit["ExecStart"]
    assert start.endswith("/natars-bot run")
    assert "TOKEN" not in " ".join(unit["Environment"] + [start])
    for setting in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert unit[setting] == ["yes"], setting
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["CapabilityBoundingSet"] == [""]
    assert "network-online.target" in unit["After"][0]


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """`systemd-analyze verify` and `security` where systemd-analyze exists; elsewhere the
    unit's essentials are still read by test_systemd_unit_essentials (no skip: CI=true)."""
    analyze = shutil.which("systemd-analyze")
    text = UNIT.read_text()
    assert "ExecStart=/opt/natars-bot/bin/natars-bot run" in text
    if analyze is None:
        unit = unit_settings(text)
        assert set(unit) >= {"Type", "ExecStart", "WantedBy"}
        return
    # verify checks that ExecStart's program exists: point it at this checkout's natars-bot,
    # the same console script that `pip install` puts into /opt/natars-bot/bin.
    program = Path(sys.executable).parent / "natars-bot"
    assert program.exists(), program
    copy = tmp_path / UNIT.name
    copy.write_text(
        text.replace("ExecStart=/opt/natars-bot/bin/natars-bot", f"ExecStart={program}")
    )
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    # Hardening: systemd's own exposure score, at most 2.0 of 10 ("OK"); 1.3 when written.
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=20", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
