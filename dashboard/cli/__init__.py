"""Command line (``python -m dashboard …``) and the process supervisor of ``run``."""
