"""The screening log: one row per assessed referral, for monitors and the CONSORT diagram.

Pure: store rows in, log rows and file bytes out. No patient names exist to leak, and the
site's screening number is left out too. CSV is written for spreadsheets: UTF-8 with a BOM (so
Excel reads Chinese correctly), and any cell that a spreadsheet would run as a formula (starting
with =, +, -, @, tab or carriage return) is prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import BinaryIO

from openpyxl import Workbook

from .mdt import Ballot

__all__ = [
    "COLUMNS",
    "LogRow",
    "csv_chunks",
    "csv_header",
    "csv_row",
    "json_line",
    "neutralise",
    "write_xlsx",
]


@dataclass(frozen=True, slots=True)
class LogRow:
    """One referral in the screening log."""

    referral_id: str
    site: str
    referred_on: str
    decided_on: str
    protocol: str
    version: int
    histology: str
    grade: str
    tumor_size_cm: str
    sft_score: str
    asa_class: str
    engine_verdict: str
    failed: str
    unknown: str
    mdt_decision: str
    votes: str
    reasons: str
    consent: str
    status: str


COLUMNS = tuple(LogRow.__dataclass_fields__)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def votes_text(ballots: Sequence[Ballot]) -> tuple[str, str]:
    """(who voted what, the reasons given) for one version."""
    votes = "; ".join(f"{b.reviewer}: {b.vote.value}" for b in ballots)
    reasons = "; ".join(f"{b.reviewer}: {b.reason}" for b in ballots if b.reason)
    return votes, reasons


def csv_header() -> bytes:
    """The CSV header line, after a UTF-8 byte order mark."""
    return "\ufeff".encode() + _csv_line(COLUMNS)


def csv_row(row: LogRow) -> bytes:
    """One CSV line, every cell neutralised."""
    return _csv_line([neutralise(str(value)) for value in asdict(row).values()])


def _csv_line(cells: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue().encode("utf-8")


def csv_chunks(rows: Iterable[LogRow]) -> Iterator[bytes]:
    """The log as CSV bytes, a row at a time (memory stays flat however many rows)."""
    yield csv_header()
    for row in rows:
        yield csv_row(row)


def json_line(row: LogRow) -> bytes:
    """One row as a line of JSON."""
    return (json.dumps(asdict(row), ensure_ascii=False) + "\n").encode("utf-8")


def write_xlsx(rows: Iterable[LogRow], target: BinaryIO) -> int:
    """Write the log as an XLSX workbook (openpyxl's write-only mode streams rows to disk).

    Cells are neutralised as in CSV: the workbook is opened by the same spreadsheets.
    Returns the number of rows written.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Screening log")
    sheet.append(list(COLUMNS))
    count = 0
    for row in rows:
        sheet.append([neutralise(str(value)) for value in asdict(row).values()])
        count += 1
    workbook.save(target)
    return count
