"""Ventanilla's composition root: the CLI and the asyncio worker. No business rules here."""
