"""``python -m chrontainer_server`` is the ``chrontainer`` command."""

import sys

from .cli import main

sys.exit(main())
