"""``python -m cosmic_horizons`` is ``horizons``."""

from .cli.main import main

main()
