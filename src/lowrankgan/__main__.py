"""``python -m lowrankgan``: the same as the ``lowrankgan`` command."""

import sys

from . import main

sys.exit(main())
