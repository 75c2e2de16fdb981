"""Paper figures and tables, built only from saved result files (never recomputed)."""
