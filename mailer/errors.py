"""Exceptions of the mailer package."""


class MailerError(Exception):
    """A mail operation failed."""


class UnparseableMessageError(MailerError):
    """The message cannot be parsed within our limits; it goes to quarantine."""


class SourceUnavailableError(MailerError):
    """The mailbox cannot be reached right now (connection lost, server down); retry later."""


class SourceAuthError(MailerError):
    """The mailbox refused our credentials."""


class InsecureConnectionError(MailerError):
    """The server would not give us the transport security the settings demand."""


class TemporaryDeliveryError(MailerError):
    """The SMTP server or transport failed temporarily (4xx, timeout, refused); retry later."""


class PermanentDeliveryError(MailerError):
    """The SMTP server refused the message for good (5xx)."""


class TemplateFailedError(MailerError):
    """An email template cannot be rendered (missing, a syntax error, an undefined value): a
    configuration error, not the message's fault; the mail waits until the template is fixed."""
