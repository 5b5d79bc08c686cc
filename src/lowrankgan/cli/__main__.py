"""``python -m lowrankgan.cli``: the same as the ``lowrankgan`` command."""

import sys

from . import main

sys.exit(main())
