"""Phone: calls logged or imported become tickets and written follow-ups."""
