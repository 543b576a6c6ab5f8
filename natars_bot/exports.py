"""Exports of the screening log, shared by `/export` in Telegram and `natars-bot export`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from .dialogue import to_referral
from .eligibility import display, evaluate
from .flow import Flow
from .protocol import Protocol
from .screening_log import LogRow, votes_text
from .stats import FlowCounts, count_flow
from .store import Store

__all__ = ["flow_counts", "log_rows"]


async def log_rows(
    store: Store,
    flow: Flow,
    protocol: Protocol,
    *,
    since: str | None = None,
    until: str | None = None,
    site: str | None = None,
) -> AsyncIterator[LogRow]:
    """The screening log's rows, streamed from the database. This is a read-only operation."""
    async for referral, submission, ballots in store.log_entries(
        since=since, until=until, site=site
    ):
        state = submission.state if submission is not None else referral.state
        facts = to_referral(flow, state, referral_id=referral.public_id, site=referral.site)
        assessment = evaluate(facts, protocol)
        votes, reasons = votes_text(ballots)
        risk = assessment.sft_risk
        yield LogRow(
            referral_id=referral.public_id,
            site=referral.site or "",
            referred_on=referral.created_at[:10],
            decided_on=(submission.decided_at or "")[:10]
            if submission
            else referral.updated_at[:10],
            protocol=assessment.protocol_version,
            version=referral.version,
            histology=facts.histology.value if facts.histology else "",
            grade=str(facts.grade or ""),
            tumor_size_cm=display(facts.tumor_size_cm) if facts.tumor_size_cm else "",
            sft_score=str(risk.score) if risk else "",
            asa_class=str(facts.asa_class or ""),
            engine_verdict=assessment.verdict.value,
            failed=" ".join(assessment.failed),
            unknown=" ".join(assessment.unknown),
            mdt_decision=(submission.decision or "pending") if submission else "not submitted",
            votes=votes,
            reasons=reasons,
            consent=facts.consent.value if facts.consent else "",
            status=referral.status,
        )


async def flow_counts(
    store: Store, flow: Flow, protocol: Protocol, *, site: str | None = None
) -> tuple[FlowCounts, dict[str, FlowCounts]]:
    """Overall and per-site CONSORT counts, from the same rows as the screening log."""
    rows = [row async for row in log_rows(store, flow, protocol, site=site)]
    return count_flow(rows, await store.drafts_by_site(site))
