"""Reports: the ``paper.yaml`` schema, claim checks, and rendering of ``reports/``."""
