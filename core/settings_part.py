"""What every part of the one settings object shares, and how a bad value is explained.

The core's part is ``core.settings.Settings``; others sit beside what they configure (the
connectors' in ``core/ingest/connectors/settings.py``, identity's in ``core/identity/``, each
platform's in ``bots/<platform>/settings.py``).
"""

from __future__ import annotations

from types import NoneType
from typing import Annotated, Self, get_args

from pydantic import (
    BeforeValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


# A comma-separated list in the environment (`A, B,C`), a tuple in code.
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]


class SettingsPart(BaseSettings):
    """What every part of the settings shares: read from the environment and ``.env``, frozen,
    an empty value is unset, and combinations that cannot work stop the start.

    Each part names what it is missing (``_missing``); one object made of several parts
    (``bots.settings.AppSettings``: the core's and each platform's) names it all at once.
    """

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, frozen=True
    )

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object, info: ValidationInfo) -> object:
        # `FOO=` in a .env or a manifest means "not set", not an empty token or the path ".".
        field = cls.model_fields.get(info.field_name or "")
        if value == "" and field is not None and NoneType in get_args(field.annotation):
            return None
        return value

    def _missing(self) -> list[str]:
        """What this part lacks; a part adds its own before its bases' (``super()``)."""
        return []

    @model_validator(mode="after")
    def _complete_combinations(self) -> Self:
        """Settings that only work together: name every missing partner at once, at start."""
        missing = self._missing()
        if missing:
            raise ValueError("\n".join(missing))
        return self


def _parts(cls: type[SettingsPart]) -> list[type[SettingsPart]]:
    return [cls, *(part for sub in cls.__subclasses__() for part in _parts(sub))]


def explain(exc: ValidationError) -> str:
    """One line per problem, naming the environment variable, never echoing a value.

    Pydantic's own message repeats the input, which would print tokens and passwords. The
    names come from every settings part loaded (the core's and each platform's).
    """
    aliases = {
        name: field.alias or name.upper()
        for part in _parts(SettingsPart)
        for name, field in part.model_fields.items()
    }
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(aliases.get(str(part), str(part)) for part in error["loc"])
        for message in error["msg"].removeprefix("Value error, ").splitlines():
            lines.append(f"  - {where}: {message}" if where else f"  - {message}")
    return "\n".join(lines)
