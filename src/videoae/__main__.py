"""Run the command-line tool as ``python -m videoae``."""

from videoae.cli import main

raise SystemExit(main())
