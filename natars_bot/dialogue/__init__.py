"""The triage dialogue, pure: the flow (conversations/triage.yaml), the engine stepping a draft
through it, reading typed answers, and the wording in two languages.
"""
