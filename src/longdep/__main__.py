"""``python -m longdep`` runs the command line (same as the ``longdep`` script)."""
import sys

from longdep.cli import main

sys.exit(main())
