"""The `natars-bot` command line: a thin shell around the library.

Errors raised below (NatarsError) become one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from . import __version__
from .batch import check_lines
from .checking import InputShape, assessment_json, detect_shape, numbered_lines, read_referrals
from .eligibility import evaluate
from .errors import InputError, NatarsError
from .protocol import Protocol, default_protocol, load_protocol
from .referral import referral_json_schema

__all__ = ["main"]

EXIT_OK = 0
EXIT_INPUT = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except NatarsError as exc:
        print(f"natars-bot: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:
        # `natars-bot check big.jsonl | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        return EXIT_OK
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="natars-bot", description="Triage of referrals for the NATARS trial."
    )
    parser.add_argument("--version", action="version", version=f"natars-bot {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="assess referrals given as JSON (object, array or JSON Lines)",
        description="Assess referrals against the protocol and print the verdicts as JSON. "
        "Exit status 0 whatever the verdicts; 2 if any referral could not be read.",
    )
    check.add_argument("file", metavar="FILE", help="referral JSON file, or - for standard input")
    _protocol_option(check)
    check.set_defaults(handler=_check)

    schema = commands.add_parser("schema", help="print the JSON Schema of a referral")
    schema.set_defaults(handler=_schema)

    criteria = commands.add_parser(
        "criteria", help="list the protocol's criteria with their wording and interpretation"
    )
    _protocol_option(criteria)
    criteria.set_defaults(handler=_criteria)
    return parser


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
