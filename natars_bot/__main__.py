"""`python -m natars_bot` is the `natars-bot` command."""

import sys

from natars_bot.cli import main

sys.exit(main())
