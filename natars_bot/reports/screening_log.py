"""The screening log: one row per version of every assessed referral, for monitors, the CONSORT
diagram and the tools coordinators load it into.

Pure: log rows in, file bytes out. No patient names exist to leak, and the site's screening
number is left out too. Every version a surgeon submitted is a row of its own (`version`, with
`latest` true on each referral's newest), so a version-1 "need more information" and its reasons
stay in the log after version 2 is approved.

Cells are typed: whole numbers, decimals, booleans, dates, lists of criterion ids, or None when
not known. Each format writes them as its readers expect:

    CSV    UTF-8 with a BOM (so Excel reads Chinese), TRUE/FALSE, dates YYYY-MM-DD, lists
           space-separated, nothing for None
    XLSX   numbers, booleans and dates as such; a bold, frozen header with a filter; column
           widths; a second sheet "Data dictionary" describing every column
    JSON   one object per line: numbers, booleans, null, arrays of criterion ids, dates as
           YYYY-MM-DD strings; with `referral`, the version's answers as the referral model
           reads them (`Referral.model_validate(record["referral"])`)

Any text cell a spreadsheet would run as a formula (starting with =, +, -, @, tab or carriage
return) is prefixed with an apostrophe in CSV and XLSX.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, BinaryIO, NamedTuple

__all__ = [
    "COLUMNS",
    "DICTIONARY",
    "LogRow",
    "csv_cells",
    "json_line",
    "neutralise",
    "write_csv",
    "write_json",
    "write_xlsx",
]


class LogRow(NamedTuple):
    """One version of one referral in the screening log (a NamedTuple: an export builds one per
    row). Dates are in the zone people read times in (NATARS_TIMEZONE)."""

    referral_id: str
    version: int
    latest: bool
    site: str | None
    referred_on: date | None
    assessed_on: date | None
    decided_on: date | None
    protocol: str | None
    histology: str | None
    grade: int | None
    tumor_size_cm: float | None
    sft_score: int | None
    asa_class: int | None
    engine_verdict: str | None
    failed: tuple[str, ...]
    unknown: tuple[str, ...]
    mdt_decision: str
    votes: str
    reasons: str
    consent: str | None
    status: str
    # The version's answers as referral-model fields (JSON Lines only; never the screening
    # number or the note, which are not referral fields).
    referral: Mapping[str, Any] | None = None


COLUMNS: tuple[str, ...] = LogRow._fields[:-1]  # `referral` is nested in JSON, not a column
_FORMULA_STARTS = frozenset("=+-@\t\r")


class Column(NamedTuple):
    """One column of the data dictionary sheet."""

    name: str
    kind: str
    meaning: str
    values: str = ""


DICTIONARY: tuple[Column, ...] = (
    Column("referral_id", "text", "Pseudonymous referral id (never a name or screening number)",
           "NAT-YYYY-NNNN"),
    Column("version", "integer", "Version submitted (a new one after 'need more information')",
           "1, 2, …"),
    Column("latest", "boolean", "This row is the referral's newest version: filter on TRUE to "
           "count referrals", "TRUE / FALSE"),
    Column("site", "text", "Referring site"),
    Column("referred_on", "date", "Date the referral was opened (local time)"),
    Column("assessed_on", "date", "Date this version was submitted to the MDT, or stopped at "
           "the pre-screen (local time)"),
    Column("decided_on", "date", "Date of the MDT's decision on this version (local time)"),
    Column("protocol", "text", "Protocol version the engine applied"),
    Column("histology", "text", "Histological subtype", "DDLPS, LMS, UPS, SFT, WDLPS, other"),
    Column("grade", "integer", "FNCLCC grade (DDLPS only)", "1–3"),
    Column("tumor_size_cm", "number", "Largest tumour diameter, cm"),
    Column("sft_score", "integer", "WHO SFT metastasis risk score, given or computed from its "
           "parts (SFT only)", "0–7"),
    Column("asa_class", "integer", "ASA physical status class", "1–6"),
    Column("engine_verdict", "text", "The bot's pre-screen verdict on this version",
           "eligible, needs_review, ineligible"),
    Column("failed", "list", "Criteria failed, in protocol order (space-separated)"),
    Column("unknown", "list", "Criteria left open, in protocol order (space-separated)"),
    Column("mdt_decision", "text", "The MDT's decision on this version",
           "approved, declined, more_info, pending, not_submitted"),
    Column("votes", "text", "Each reviewer's vote on this version"),
    Column("reasons", "text", "Reviewers' reasons (not eligible, need more information)"),
    Column("consent", "text", "Informed consent", "signed, pending, declined"),
    Column("status", "text", "The referral's current status (the same on all its versions)",
           "screen_failed, submitted, more_info, approved, declined, draft, cancelled"),
)  # fmt: skip


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + cell if cell[:1] in _FORMULA_STARTS else cell


# Columns whose text comes from people (a registered site name, the protocol file's version,
# reviewers' names and reasons). Every other column is an id, a date, a number or a code the
# bot wrote itself, none of which starts with a formula character.
FREE_TEXT = tuple(COLUMNS.index(name) for name in ("site", "protocol", "votes", "reasons"))
_LISTS = tuple(COLUMNS.index(name) for name in ("failed", "unknown"))


def _safe(row: LogRow) -> list[Any]:
    """The row's column values, free text neutralised."""
    values: list[Any] = list(row[: len(COLUMNS)])
    starts = _FORMULA_STARTS
    for i in FREE_TEXT:
        value = values[i]
        if value and value[0] in starts:
            values[i] = "'" + value
    return values


_LATEST = COLUMNS.index("latest")
_SIZE = COLUMNS.index("tumor_size_cm")


def csv_cells(row: LogRow) -> list[object]:
    """A row's cells as CSV writes them (see the module docstring). Only the columns whose
    type csv would spell differently are converted: this runs for every row, and a function
    call per cell cost a second per 100,000 rows. (csv writes None as nothing, a date as
    YYYY-MM-DD and an integer as its digits by itself.)"""
    values = _safe(row)
    values[_LATEST] = "TRUE" if values[_LATEST] else "FALSE"
    for i in _LISTS:
        values[i] = " ".join(values[i])
    size = values[_SIZE]
    if size is not None:
        values[_SIZE] = f"{size:g}"  # 18, not 18.0
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
        writer.writerow(csv_cells(row))
        count += 1
    text.flush()
    text.detach()
    return count


def json_line(row: LogRow) -> bytes:
    """One row as a line of JSON with JSON's types (criterion ids as arrays, dates as text)."""
    record: dict[str, Any] = {}
    for name, value in zip(LogRow._fields, row, strict=True):
        if isinstance(value, date):
            record[name] = value.isoformat()
        elif isinstance(value, tuple):
            record[name] = list(value)
        else:
            record[name] = value
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def write_json(rows: Iterable[LogRow], target: BinaryIO) -> int:
    """Write the log as JSON Lines to `target`; returns the rows."""
    count = 0
    for row in rows:
        target.write(json_line(row))
        count += 1
    return count


# Widths in characters, as Excel counts them: wide enough for the header and typical values.
_WIDTHS = {"referral_id": 16, "site": 34, "protocol": 28, "votes": 40, "reasons": 48}


def write_xlsx(rows: Iterable[LogRow], target: BinaryIO, *, zone: str = "UTC") -> int:
    """Write the log as an XLSX workbook (openpyxl's write-only mode streams rows to disk).

    Typed cells (numbers, booleans, dates formatted YYYY-MM-DD), a bold header frozen above the
    rows, an autofilter over every column, column widths, and the "Data dictionary" sheet (which
    names `zone`, the zone of the dates). Text
    is neutralised as in CSV: the workbook is opened by the same spreadsheets.
    Returns the number of rows written.
    """
    from openpyxl import Workbook  # noqa: PLC0415 - slow to import, needed for XLSX only
    from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415
    from openpyxl.styles import Font  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Screening log")
    bold = Font(bold=True)
    for index, name in enumerate(COLUMNS, start=1):
        width = _WIDTHS.get(name, max(len(name) + 3, 12))
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([_bold(WriteOnlyCell(sheet, value=name), bold) for name in COLUMNS])
    count = 0
    for row in rows:
        values = _safe(row)
        for i in _LISTS:
            values[i] = " ".join(values[i])
        sheet.append(values)  # openpyxl formats date values as yyyy-mm-dd itself
        count += 1
    # The filter's range is known only now; write-only sheets write it when saved.
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{count + 1}"
    _dictionary_sheet(workbook, bold, zone)
    workbook.save(target)
    return count


def _bold(cell: Any, font: Any) -> Any:
    cell.font = font
    return cell


def _dictionary_sheet(workbook: Any, bold: Any, zone: str) -> None:
    from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415

    sheet = workbook.create_sheet("Data dictionary")
    for letter, width in zip("ABCD", (18, 10, 70, 40), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    header: Sequence[str] = ("column", "type", "meaning", "values")
    sheet.append([_bold(WriteOnlyCell(sheet, value=name), bold) for name in header])
    for column in DICTIONARY:
        sheet.append(list(column))
    sheet.append([])
    sheet.append([f"Dates are local dates in {zone}; the database and the audit trail keep UTC."])
