"""``python -m jupyter_compute.sandbox.webhdfs``."""
import sys

from .server import main

sys.exit(main())
