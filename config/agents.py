"""`[agents]`: how agents prove who they are when they act by email (DESIGN invariant 4)."""

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class AgentSettings(BaseModel):
    """Reply tokens, the Authentication-Results check and who receives agents' replies.

    `keys` maps a key id to a secret; tokens are minted with `current_kid` and verified with
    whichever id they name, so a key is rotated by adding a new id, switching `current_kid`,
    and removing the old id once its tokens may expire. With no keys, `[helpdesk] secret`
    is used under the id "1".
    """

    model_config = ConfigDict(extra="forbid")

    authserv_id: str = ""  # our MTA's authserv-id; "" = Authentication-Results are not required
    require_dkim: bool = True  # with authserv_id set: DMARC pass or aligned DKIM pass is required
    relay_to_cc: bool = True  # the user's CCs on the ticket receive agents' replies
    keys: dict[str, SecretStr] = Field(default_factory=dict)
    current_kid: str = "1"
    # The user's files ride along with an agent's notification up to this many bytes in all;
    # above it the notification lists them (sizes, and the command that writes each out).
    attach_max_bytes: int = Field(default=10 * 1024 * 1024, ge=0)

    @field_validator("authserv_id")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("keys")
    @classmethod
    def _kids(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for kid, secret in value.items():
            if not (kid.isascii() and kid.isalnum() and kid == kid.lower() and 1 <= len(kid) <= 8):
                raise ValueError(f"key id {kid!r} must be 1-8 lower-case letters or digits")
            if len(secret.get_secret_value()) < 16:
                raise ValueError(f"key {kid!r} is shorter than 16 characters")
        return value

    @model_validator(mode="after")
    def _current_known(self) -> "AgentSettings":
        if self.keys and self.current_kid not in self.keys:
            raise ValueError(f"current_kid {self.current_kid!r} is not one of keys")
        return self
