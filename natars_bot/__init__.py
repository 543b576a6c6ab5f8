"""natars-bot: triage of referrals for the NATARS trial (retroperitoneal sarcoma)."""

__version__ = "0.1.0"
