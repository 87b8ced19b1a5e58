"""``python -m walloc_plugins`` runs the ``walloc`` command line."""

import sys

from .cli import main

sys.exit(main())
