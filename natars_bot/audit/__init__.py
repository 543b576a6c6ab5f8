"""The audit trail: its hash chain and anchors, and the replay that reconciles the state tables
with it.
"""
