"""Settings of the FAQ knowledge base: `[faq]`.

    [faq]
    path = ""   # a folder of entries (one Markdown file each, TOML front matter); empty: no FAQ
"""

from pydantic import BaseModel, ConfigDict


class FaqSettings(BaseModel):
    """Where the FAQ entries are (tickets.faq.entries.load_faq)."""

    model_config = ConfigDict(extra="forbid")

    path: str = ""
