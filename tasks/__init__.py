"""Paper reproductions, one package per task; each reuses ``common``."""
