"""The ``horizons`` command line."""
