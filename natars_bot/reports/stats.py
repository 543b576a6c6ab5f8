"""Screening statistics for the CONSORT flow: pure counts from the screening log's rows.

referred          every referral opened and not discarded (in progress included)
assessed          referrals whose dialogue ended (stopped early or submitted)
excluded          stopped by the surgeon after the pre-screen found a failed criterion,
                  with counts per failed criterion
submitted         sent to the MDT (latest version)
approved / declined / pending (pending includes "more information needed")
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from natars_bot.reports.screening_log import LogRow

__all__ = ["FlowCounts", "count_flow", "flow_text"]


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
        """Count one row of the screening log."""
        self.assessed += 1
        if row.status == "screen_failed":
            self.excluded += 1
            self.excluded_by.update(row.failed.split())
        if row.mdt_decision != "not submitted":
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
        sites.setdefault(row.site, FlowCounts()).add(row)
    return overall, dict(sorted(sites.items()))


def flow_text(overall: FlowCounts, sites: Mapping[str, FlowCounts]) -> str:
    """The counts as plain text, for the command line."""
    lines = [
        f"referred {overall.referred} (in progress {overall.in_progress})",
        f"assessed {overall.assessed}",
        f"excluded at pre-screen {overall.excluded}"
        + "".join(f"\n  {cid}: {n}" for cid, n in sorted(overall.excluded_by.items())),
        f"submitted to the MDT {overall.submitted}: approved {overall.approved},"
        f" declined {overall.declined}, pending {overall.pending}",
    ]
    for site, counts in sites.items():
        lines.append(
            f"{site or '(no site)'}: referred {counts.referred}, excluded {counts.excluded},"
            f" submitted {counts.submitted}, approved {counts.approved},"
            f" declined {counts.declined}, pending {counts.pending}"
        )
    return "\n".join(lines)
