"""``python -m dashboard <command>`` — see :mod:`dashboard.cli.main`."""
import sys

from dashboard.cli.main import main

sys.exit(main())
