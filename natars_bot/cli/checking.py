"""`natars-bot check`, `schema` and `criteria`: the protocol from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from natars_bot.cli.exits import EXIT_INPUT, EXIT_OK
from natars_bot.errors import InputError
from natars_bot.protocol.batch import check_lines
from natars_bot.protocol.checking import (
    InputShape,
    assessment_json,
    detect_shape,
    numbered_lines,
    read_referrals,
)
from natars_bot.protocol.criteria import Protocol, default_protocol, load_protocol
from natars_bot.protocol.eligibility import evaluate
from natars_bot.protocol.referral import referral_json_schema


def _protocol_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol",
        metavar="YAML",
        help="protocol definition file (default: the NATARS criteria shipped with natars-bot)",
    )


def _load(args: argparse.Namespace) -> Protocol:
    return load_protocol(args.protocol) if args.protocol else default_protocol()


def _check(args: argparse.Namespace) -> int:
    """Print one verdict per readable referral; report unreadable ones on stderr."""
    protocol = _load(args)
    text = _read_text(args.file).removeprefix("\ufeff")
    shape = detect_shape(text)
    out: TextIO = sys.stdout
    errors = 0
    if shape is InputShape.lines:
        for verdicts, problems in check_lines(numbered_lines(text), args.protocol):
            for problem in problems:
                print(f"natars-bot: {problem}", file=sys.stderr)
            errors += len(problems)
            out.buffer.write(verdicts)
            out.buffer.flush()
        return EXIT_INPUT if errors else EXIT_OK

    documents = []
    for record in read_referrals(text)[1]:
        if record.referral is None:
            print(f"natars-bot: {record.error}", file=sys.stderr)
            errors += 1
        else:
            documents.append(assessment_json(record.referral, evaluate(record.referral, protocol)))
    if errors:
        # An object or an array is one document: printed whole, or (with any bad record) not at all.
        return EXIT_INPUT
    json.dump(
        documents[0] if shape is InputShape.object else documents, out, ensure_ascii=False, indent=2
    )
    out.write("\n")
    return EXIT_OK


def _read_text(name: str) -> str:
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name} is not UTF-8 text (byte {exc.start})") from exc


def _schema(args: argparse.Namespace) -> int:
    """Print the referral JSON Schema. This is a read-only operation."""
    json.dump(referral_json_schema(), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _criteria(args: argparse.Namespace) -> int:
    """Print every criterion with its wording and the product's interpretation."""
    protocol = _load(args)
    print(f"{protocol.version} ({protocol.registry})")
    for criterion in protocol.criteria:
        print(f"\n{criterion.id}  {criterion.summary}")
        print(f"  protocol: {criterion.wording}")
        if criterion.interpretation:
            print(f"  interpretation: {criterion.interpretation}")
    return EXIT_OK
