"""Settings for FAQ suggestions in the acknowledgement: `[faq]`.

    [faq]
    path = ""              # folder of Markdown entries (one file each); empty: no suggestions
    max_suggestions = 3    # at most this many entries in an acknowledgement
    min_score = 3.0        # an entry scoring below this is never suggested (bench.faq tunes it)
    relative = 0.6         # a second or third entry scores at least this share of the first
"""

from pydantic import BaseModel, ConfigDict, Field


class FaqSettings(BaseModel):
    """Where the FAQ is and how sure a suggestion must be."""

    model_config = ConfigDict(extra="forbid")

    path: str = ""
    max_suggestions: int = Field(default=3, ge=0, le=10)
    min_score: float = Field(default=3.0, gt=0)
    relative: float = Field(default=0.6, ge=0, le=1)
