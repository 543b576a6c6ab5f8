"""`python -m natars_bot` is the `natars-bot` command."""

import sys

from .cli import main

sys.exit(main())
