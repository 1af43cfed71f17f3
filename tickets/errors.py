"""Exceptions of the tickets package."""


class TicketsError(Exception):
    """A tickets operation failed."""


class DatabaseUnavailableError(TicketsError):
    """The database cannot be reached right now; try again later."""


class TicketNotFoundError(TicketsError):
    """No ticket has that number."""
