"""Settings from the environment or a `.env` file (pydantic-settings), under stable names.

    NATARS_TELEGRAM_TOKEN   the bot token (secret; never logged)
    NATARS_BOT_API_URL      Bot API base URL as python-telegram-bot's base_url takes it
                            (default Telegram's; e.g. http://127.0.0.1:8081/bot for a local server)
    NATARS_DATABASE         SQLite file (default ./natars.sqlite3)
    NATARS_MDT_CHAT_ID      the MDT group's chat id
    NATARS_MDT_LANGUAGE     language of the MDT summaries (default en)
    NATARS_APPROVALS_NEEDED / NATARS_DECLINES_NEEDED   the quorum (default 2 / 2)
    NATARS_REMINDER_HOURS   re-announce undecided cases after this long (default 48)
    NATARS_UNCERTAIN_REPOST_SECONDS  a summary that may not have arrived (a timeout or a lost
                            connection after sending) and has no press under it is posted
                            again after this long (default 180)
    NATARS_READ_DELAY_SECONDS  a press this soon after its screen appeared is refused as a
                            double tap (default 1)
    NATARS_TIMEZONE         the zone people read times in (default Asia/Shanghai); the database
                            and the audit trail stay UTC
    NATARS_LOG_FORMAT       text (default) or json (one JSON object a line)
    NATARS_BACKUP_DIR       where the running bot puts its daily online backup (unset: none)
    NATARS_BACKUP_KEEP      how many of those backups to keep (default 14)

Every command that touches the database reads the same settings. A malformed value becomes one
ConfigError line naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from natars_bot.errors import ConfigError

__all__ = ["Settings", "load_settings"]

TELEGRAM_API = "https://api.telegram.org/bot"


class Settings(BaseSettings):
    """natars-bot's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="NATARS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    telegram_token: SecretStr | None = None
    bot_api_url: str = TELEGRAM_API
    database: Path = Path("natars.sqlite3")
    mdt_chat_id: int | None = None
    rate_limit: bool = Field(default=True, description="use ptb's AIORateLimiter (off in tests)")
    mdt_language: str = "en"
    approvals_needed: int = Field(default=2, ge=1)
    declines_needed: int = Field(default=2, ge=1)
    reminder_hours: float = Field(default=48.0, gt=0)
    reminder_check_seconds: float = Field(default=60.0, gt=0)
    outbox_interval_seconds: float = Field(default=5.0, gt=0)
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    uncertain_repost_seconds: float = Field(
        default=180.0,
        ge=0,
        description="re-post a summary that may not have arrived, with no press under it, after",
    )
    read_delay_seconds: float = Field(
        default=1.0, ge=0, description="presses sooner than this after their screen are refused"
    )

    timezone: str = Field(default="Asia/Shanghai", description="the zone people read times in")
    log_format: Literal["text", "json"] = "text"
    backup_dir: Path | None = None
    backup_keep: int = Field(default=14, ge=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from exc
        return value

    def zone(self) -> ZoneInfo:
        """The zone people read times in."""
        return ZoneInfo(self.timezone)

    @field_validator("bot_api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        # ptb appends the token right after the base URL; a trailing slash gives a 404 that
        # ptb reports as a misleading InvalidToken.
        return value.rstrip("/")

    def token(self) -> str:
        """The bot token; ConfigError when it is not set."""
        if self.telegram_token is None or not self.telegram_token.get_secret_value().strip():
            raise ConfigError(
                "NATARS_TELEGRAM_TOKEN is not set: put the bot token from @BotFather in the "
                "environment or in .env"
            )
        return self.telegram_token.get_secret_value().strip()


def load_settings(**overrides: object) -> Settings:
    """Read the settings; ConfigError names the first malformed variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "NATARS_" + str(error["loc"][0]).upper() if error["loc"] else "settings"
        raise ConfigError(f"{name}: {error['msg']}") from exc
