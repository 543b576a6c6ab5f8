"""Protocol definitions shipped with natars-bot (YAML files, loaded by natars_bot.protocol)."""
