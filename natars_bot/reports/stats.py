"""Screening statistics for the CONSORT flow: pure counts from the screening log's rows.

referred          every referral opened and not discarded (in progress included)
assessed          referrals whose dialogue ended (stopped early or submitted)
excluded          stopped by the surgeon after the pre-screen found a failed criterion,
                  with counts per failed criterion
submitted         sent to the MDT (latest version)
approved / declined / pending (pending includes "more information needed")

The log has a row per version: each referral is counted once, by its latest version; one back
in progress after "need more information" counts as in progress (with the drafts), and one
discarded then is not counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from natars_bot.protocol.criteria import Protocol, default_protocol
from natars_bot.reports.screening_log import LogRow

__all__ = ["LINES", "FlowCounts", "count_flow", "criterion_namer", "flow_text"]

_NOT_ASSESSED = frozenset(("draft", "cancelled"))


@dataclass
class FlowCounts:
    """The CONSORT boxes' numbers for one site, or overall."""

    in_progress: int = 0
    assessed: int = 0
    excluded: int = 0
    excluded_by: Counter[str] = field(default_factory=Counter)
    submitted: int = 0
    approved: int = 0
    declined: int = 0
    pending: int = 0

    @property
    def referred(self) -> int:
        """Referrals opened and not discarded."""
        return self.in_progress + self.assessed

    def add(self, row: LogRow) -> None:
        """Count one row of the screening log (earlier versions and drafts count nothing)."""
        if not row.latest or row.status in _NOT_ASSESSED:
            return
        self.assessed += 1
        if row.status == "screen_failed":
            self.excluded += 1
            self.excluded_by.update(row.failed)
        if row.mdt_decision != "not_submitted":
            self.submitted += 1
            if row.mdt_decision == "approved":
                self.approved += 1
            elif row.mdt_decision == "declined":
                self.declined += 1
            else:
                self.pending += 1


def count_flow(
    rows: Iterable[LogRow], in_progress: Mapping[str, int]
) -> tuple[FlowCounts, dict[str, FlowCounts]]:
    """Overall and per-site counts; `in_progress` holds the open drafts per site."""
    overall = FlowCounts(in_progress=sum(in_progress.values()))
    sites: dict[str, FlowCounts] = {
        site: FlowCounts(in_progress=count) for site, count in in_progress.items()
    }
    for row in rows:
        overall.add(row)
        sites.setdefault(row.site or "", FlowCounts()).add(row)
    return overall, dict(sorted(sites.items()))


# The lines of the counts in English, as the command line prints them; the bot gives each
# coordinator the same lines in their language (conversations/messages-coordinators.yaml,
# keys stats_*).
LINES: Mapping[str, str] = {
    "referred": "referred {referred} (in progress {in_progress})",
    "assessed": "assessed {assessed}",
    "excluded": "excluded at pre-screen {excluded}",
    "submitted": "submitted to the MDT {submitted}: approved {approved}, declined {declined},"
    " pending {pending}",
    "site": "{site}: referred {referred}, excluded {excluded}, submitted {submitted},"
    " approved {approved}, declined {declined}, pending {pending}",
    "no_site": "(no site)",
}


def criterion_namer(protocol: Protocol, language: str) -> Callable[[str], str]:
    """Names criteria by id and summary in `language` ("INC-12 ASA ≤ 3"); an id the protocol
    does not know (a referral assessed under another revision) by its id alone."""
    summaries = {c.id: c.summary_in(language) for c in protocol.criteria}

    def name(criterion_id: str) -> str:
        summary = summaries.get(criterion_id)
        return f"{criterion_id} {summary}" if summary else criterion_id

    return name


def flow_text(
    overall: FlowCounts,
    sites: Mapping[str, FlowCounts],
    *,
    lines: Mapping[str, str] = LINES,
    criterion: Callable[[str], str] | None = None,
) -> str:
    """The counts as plain text: `lines` are the line templates (English by default), and
    `criterion(id)` names a criterion (by default its id and the shipped protocol's English
    summary, "INC-05 LMS: all grades; tumour size ≥ 10 cm")."""
    name = criterion or criterion_namer(default_protocol(), "en")

    def counts(c: FlowCounts) -> dict[str, int]:
        return {
            "referred": c.referred, "in_progress": c.in_progress, "assessed": c.assessed,
            "excluded": c.excluded, "submitted": c.submitted, "approved": c.approved,
            "declined": c.declined, "pending": c.pending,
        }  # fmt: skip

    total = counts(overall)
    text = [
        lines["referred"].format(**total),
        lines["assessed"].format(**total),
        lines["excluded"].format(**total)
        + "".join(f"\n  {name(cid)}: {n}" for cid, n in sorted(overall.excluded_by.items())),
        lines["submitted"].format(**total),
    ]
    for site, site_counts in sites.items():
        text.append(lines["site"].format(site=site or lines["no_site"], **counts(site_counts)))
    return "\n".join(text)
