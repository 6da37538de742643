"""``python -m emulator``: the fadump-emu command line."""

from emulator.cli import main

raise SystemExit(main())
