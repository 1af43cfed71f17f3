"""Report: the monthly figures (queries) and their display (figures, pure)."""
