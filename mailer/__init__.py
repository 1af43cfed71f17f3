"""Everything that touches mail protocols and formats."""
