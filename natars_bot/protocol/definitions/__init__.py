"""Protocol definitions shipped with natars-bot (YAML, read by natars_bot.protocol.criteria)."""
