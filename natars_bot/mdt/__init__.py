"""The MDT's sign-off, pure: quorum and decisions from ballots, and who may vote where from stored
facts.
"""
