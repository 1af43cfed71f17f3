"""`[agents]`: how agents prove who they are when they act by email (DESIGN invariant 4)."""

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


class AgentGroup(BaseModel):
    """`[[agents.groups]]`: the agents who get the tickets of some categories."""

    model_config = ConfigDict(extra="forbid")

    name: str
    members: list[str] = Field(min_length=1)
    categories: list[str] = []

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip().lower()
        if not _GROUP_NAME.match(value):
            raise ValueError(f"group name {value!r} must be lower-case letters, digits, '-', '_' or '.'")
        return value

    @field_validator("members", "categories")
    @classmethod
    def _lower_list(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(v.strip().lower() for v in value))


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
    groups: list[AgentGroup] = []  # routing by category; none = every agent hears of every ticket
    assign: Literal["none", "round-robin"] = "none"  # round-robin: a new ticket goes to one member
    collision_minutes: float = Field(default=10.0, ge=0)  # 0 = no collision guard
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

    @model_validator(mode="after")
    def _groups_distinct(self) -> "AgentSettings":
        names: set[str] = set()
        owner: dict[str, str] = {}
        for group in self.groups:
            if group.name in names:
                raise ValueError(f"group {group.name!r} is defined twice")
            names.add(group.name)
            for category in group.categories:
                if category in owner:
                    raise ValueError(f"category {category!r} is in groups {owner[category]!r} and {group.name!r}")
                owner[category] = group.name
        return self


def unknown_members(groups: list[AgentGroup], agents: list[str]) -> str:
    """Why the groups do not fit `[helpdesk] agents` ("" when they do)."""
    known = set(agents)
    for group in groups:
        strangers = [m for m in group.members if m not in known]
        if strangers:
            return f"group {group.name!r}: {', '.join(strangers)} not in helpdesk.agents"
    return ""
