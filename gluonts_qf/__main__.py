"""``python -m gluonts_qf``: the ``gluonts-qf`` command line."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
