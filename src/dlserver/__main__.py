"""``python -m dlserver``: the ``dlserver`` command."""

import sys

from dlserver.cli import main

sys.exit(main())
