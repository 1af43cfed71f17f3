"""The functional core of Ventanilla and its persistence. No network, no mail libraries."""
