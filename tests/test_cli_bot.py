"""`natars-bot users …` and `natars-bot run`: settings, one-line errors, no tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from natars_bot.cli import main
from natars_bot.errors import ConfigError
from natars_bot.settings import TELEGRAM_API, load_settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean NATARS_* environment with the database in a temporary folder."""
    for name in ("NATARS_TELEGRAM_TOKEN", "NATARS_BOT_API_URL", "NATARS_MDT_CHAT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    database = tmp_path / "users.sqlite3"
    monkeypatch.setenv("NATARS_DATABASE", str(database))
    return database


def test_users_add_list_remove(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Registration round trip through the same database the bot uses."""
    assert (
        main(["users", "add", "1001", "--role", "surgeon", "--site", "Beijing Friendship Hospital"])
        == 0
    )
    assert main(["users", "add", "2002", "--role", "reviewer"]) == 0
    capsys.readouterr()
    assert main(["users", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [
        ["1001", "surgeon", "Beijing Friendship Hospital"],
        ["2002", "reviewer", "-"],
    ]
    assert main(["users", "remove", "2002"]) == 0
    assert main(["users", "remove", "2002"]) == 2
    assert "no user 2002" in capsys.readouterr().err
    assert env.exists()


def test_users_add_rejects_unknown_roles(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """argparse refuses a role that does not exist, with exit 2."""
    with pytest.raises(SystemExit) as raised:
        main(["users", "add", "1", "--role", "nurse"])
    assert raised.value.code == 2


def test_run_without_a_token_says_so_in_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing token stops `run` with one line naming the variable."""
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NATARS_TELEGRAM_TOKEN is not set" in err


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("NATARS_BOT_API_URL", "127.0.0.1:8081/bot", "NATARS_BOT_API_URL"),
        ("NATARS_MDT_CHAT_ID", "the MDT group", "NATARS_MDT_CHAT_ID"),
    ],
)
def test_malformed_settings_name_the_variable(
    env: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    """Each malformed setting becomes a ConfigError naming its environment variable."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_settings_defaults_and_trailing_slash(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram's API by default; a trailing slash (a misleading InvalidToken in ptb) is removed."""
    assert load_settings().bot_api_url == TELEGRAM_API
    monkeypatch.setenv("NATARS_BOT_API_URL", "http://127.0.0.1:8081/bot/")
    assert load_settings().bot_api_url == "http://127.0.0.1:8081/bot"


def test_a_dotenv_file_is_read(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings may come from .env in the working directory."""
    monkeypatch.delenv("NATARS_DATABASE")
    Path(".env").write_text(
        "NATARS_DATABASE=from-dotenv.sqlite3\nNATARS_MDT_CHAT_ID=-1001\n", encoding="utf-8"
    )
    settings = load_settings()
    assert (settings.database, settings.mdt_chat_id) == (Path("from-dotenv.sqlite3"), -1001)
