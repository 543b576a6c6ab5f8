"""The bot's words: `conversations/messages.yaml` texts and the jinja2 templates in `templates/`.

Both are checked when loaded: every message in every language of the flow, every template
compiling. Templates render Telegram HTML with autoescaping on (surgeons' free text cannot
inject markup) and StrictUndefined (a missing variable fails a test, not a patient message).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from natars_bot.errors import FlowError
from natars_bot.resources import resource_dir

__all__ = [
    "TELEGRAM_TEXT_LIMIT",
    "Wording",
    "default_wording",
    "load_wording",
    "plain_length",
    "split_html",
]

TELEGRAM_TEXT_LIMIT = 4096  # characters of a message's text, after entity parsing
_TAG = re.compile(r"<[^>]*>")


def plain_length(text: str) -> int:
    """Characters Telegram counts in a Telegram-HTML text: tags removed, entities decoded."""
    return len(html.unescape(_TAG.sub("", text)))


def split_html(text: str, limit: int) -> list[str]:
    """Split Telegram HTML between lines into parts of at most `limit` visible characters.

    Our templates open and close every tag on one line, so a part never ends inside a tag.
    A single line longer than the limit is a template bug and raises ValueError.
    """
    parts: list[list[str]] = [[]]
    size = 0
    for line in text.split("\n"):
        length = plain_length(line) + 1
        if length > limit:
            raise ValueError(f"a line of {length} characters cannot fit in one message")
        if size + length > limit and parts[-1]:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += length
    return ["\n".join(lines).strip("\n") for lines in parts if "".join(lines).strip()]


@dataclass(frozen=True)
class Wording:
    """Texts by key and language, and the template environment."""

    messages: Mapping[str, Mapping[str, str]]
    languages: tuple[str, ...]
    templates: jinja2.Environment

    def text(self, language: str, key: str, **params: Any) -> Markup:
        """A message in `language` (falling back to the first language), placeholders filled.

        Messages may hold Telegram HTML of their own (<b>, <code>): they are ours, reviewed in
        conversations/, so the result is Markup; the parameters, which may be typed by users,
        are escaped.
        """
        texts = self.messages[key]
        template = Markup(texts.get(language) or texts[self.languages[0]])
        return template.format_map(params) if params else template

    def render(self, name: str, language: str, **context: Any) -> str:
        """Render templates/`name` in `language`; `t(key, **params)` inside gives messages."""

        def t(key: str, **params: Any) -> Markup:
            return self.text(language, key, **params)

        template = self.templates.get_template(name)
        return template.render(
            lang=language, t=t, has=self.messages.__contains__, **context
        ).strip()


def load_wording(
    messages_file: Path | Sequence[Path], template_dir: Path, languages: Sequence[str]
) -> Wording:
    """Load and check messages and templates; FlowError names the file and the entry.

    `messages_file` may be several files (the surgeons', the MDT's and the coordinators'
    words): one set of keys, and a key defined twice is an error naming both files.
    """
    files = [messages_file] if isinstance(messages_file, Path) else list(messages_file)
    messages: dict[str, dict[str, str]] = {}
    defined_in: dict[str, str] = {}
    for path in files:
        source = path.name
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise FlowError(source, None, f"cannot load: {exc}") from exc
        if not isinstance(raw, dict):
            raise FlowError(source, None, "expected a mapping of message keys")
        for key, texts in raw.items():
            if not isinstance(texts, dict):
                raise FlowError(source, str(key), "expected a text per language")
            for language in languages:
                if not isinstance(texts.get(language), str) or not texts[language].strip():
                    raise FlowError(source, str(key), f"no {language!r} translation")
            if str(key) in defined_in:
                raise FlowError(source, str(key), f"defined in {defined_in[str(key)]} too")
            defined_in[str(key)] = source
            messages[str(key)] = {str(k): str(v) for k, v in texts.items()}
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates are checked and compiled once at start-up (below); without this, jinja
        # stats every template file again on every render to see whether it changed.
        auto_reload=False,
    )
    for name in environment.list_templates(extensions=["j2"]):
        try:
            environment.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise FlowError(name, None, f"line {exc.lineno}: {exc.message}") from exc
    return Wording(messages=messages, languages=tuple(languages), templates=environment)


@cache
def default_wording(languages: tuple[str, ...] = ("en", "zh")) -> Wording:
    """The shipped messages and templates."""
    folder = resource_dir("conversations")
    # messages.yaml first (the dialogue's words), then messages-*.yaml (the other roles').
    files = [folder / "messages.yaml", *sorted(folder.glob("messages-*.yaml"))]
    return load_wording(files, resource_dir("templates"), languages)
