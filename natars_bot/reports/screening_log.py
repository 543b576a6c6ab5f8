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
from collections.abc import Iterable, Sequence
from typing import BinaryIO, NamedTuple

__all__ = [
    "COLUMNS",
    "LogRow",
    "json_line",
    "neutralise",
    "write_csv",
    "write_xlsx",
]


class LogRow(NamedTuple):
    """One referral in the screening log (a NamedTuple: an export builds one per referral)."""

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


COLUMNS = LogRow._fields
_FORMULA_STARTS = frozenset("=+-@\t\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + cell if cell[:1] in _FORMULA_STARTS else cell


# Columns whose text comes from people (a registered site name, the protocol file's version,
# reviewers' names and reasons). Every other column is an id, a date, a number or a code the
# bot wrote itself, none of which starts with a formula character.
FREE_TEXT = tuple(COLUMNS.index(name) for name in ("site", "protocol", "votes", "reasons"))


def cells(row: LogRow) -> Sequence[object]:
    """A row's cells in column order, free text neutralised (this runs for every row)."""
    starts = _FORMULA_STARTS
    if not any(str(row[i])[:1] in starts for i in FREE_TEXT):
        return row
    values = list(row)
    for i in FREE_TEXT:
        values[i] = neutralise(str(values[i]))
    return values


def write_csv(rows: Iterable[LogRow], target: BinaryIO) -> int:
    """Write the log as CSV (UTF-8 with BOM) to `target`, a row at a time; returns the rows.

    One csv.writer over a text layer for the whole file (a buffer per row cost a third of a
    100,000-row export); the layer is detached at the end so that `target` stays open.
    """
    text = io.TextIOWrapper(target, encoding="utf-8", newline="")
    text.write("\ufeff")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(cells(row))
        count += 1
    text.flush()
    text.detach()
    return count


def json_line(row: LogRow) -> bytes:
    """One row as a line of JSON."""
    record = dict(zip(COLUMNS, row, strict=True))
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def write_xlsx(rows: Iterable[LogRow], target: BinaryIO) -> int:
    """Write the log as an XLSX workbook (openpyxl's write-only mode streams rows to disk).

    Cells are neutralised as in CSV: the workbook is opened by the same spreadsheets.
    Returns the number of rows written.
    """
    from openpyxl import Workbook  # noqa: PLC0415 - slow to import, needed for XLSX only

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Screening log")
    sheet.append(list(COLUMNS))
    count = 0
    for row in rows:
        sheet.append(cells(row))
        count += 1
    workbook.save(target)
    return count
