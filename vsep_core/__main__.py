"""``python -m vsep_core``: see :mod:`vsep_core.cli`."""

import sys

from .cli import main

sys.exit(main())
