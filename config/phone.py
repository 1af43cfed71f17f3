"""Settings for phone calls: `[phone]`.

    [phone]
    missed_call_email = true   # lost/abandoned calls with an address get "we missed your call"
    report_language = ""       # the monthly report's language; empty: [helpdesk] language
"""

from pydantic import BaseModel, ConfigDict


class PhoneSettings(BaseModel):
    """Phone call handling and the monthly report."""

    model_config = ConfigDict(extra="forbid")

    missed_call_email: bool = True
    report_language: str = ""
