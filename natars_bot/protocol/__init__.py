"""The trial's protocol as data and the pure engine over it: the referral model, the condition
language, the criteria loader, eligibility, the SFT risk score, batch checking.
"""
