"""The exit statuses every `natars-bot` command uses."""

EXIT_OK = 0
EXIT_BROKEN = 1  # what was checked is broken (a verdict, a chain)
EXIT_INPUT = 2  # the input or the configuration is wrong: one line on stderr
