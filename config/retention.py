"""`[retention]`: how long the raw bytes and attachments of closed tickets are kept."""

from pydantic import BaseModel, ConfigDict, Field


class RetentionSettings(BaseModel):
    """`raw_days` set (> 0): every day the scheduler removes the raw messages and attachments of
    tickets closed more than that many days ago (`ventanilla purge`); 0 keeps them for ever."""

    model_config = ConfigDict(extra="forbid")

    raw_days: int = Field(default=0, ge=0)
