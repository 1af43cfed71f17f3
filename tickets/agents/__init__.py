"""Agents: replies and commands by email (signed reply addresses), notifications."""
