"""``python -m jupyter_compute.sandbox.ocean``: the stand-in on loopback until Ctrl-C."""

import sys

from .server import main

sys.exit(main())
