"""What a chat platform is to the server: one folder under ``bots/`` and one line in
``bots/platforms.py``.

The core never sees this protocol: it meets a platform as a ``ChatEvent``, a ``ReplyStream``
and a ``core.lifecycle.PlatformDoor``. This is the server's side — whether to mount it, how
to mount it, its line in the start-up banner, its settings, the personal data its tables hold,
and the migrations that create them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from pydantic_settings import BaseSettings

from core.settings import Settings
from store.privacy import PlatformData

if TYPE_CHECKING:
    from bots.runtime import Runtime


class Platform(Protocol):
    """A chat platform Switchboard answers on.

    ``name`` is its ``ChatEvent.thread.platform`` and inbox platform; ``label`` its name in
    the banner. ``settings`` is its own settings class (its env prefix, its checks), part of
    the one settings object (``bots.settings.AppSettings``). ``personal_data`` (or None)
    clears and exports what its tables hold about a person. ``migrations`` names the files
    in ``store/migrations/`` that create its tables.
    """

    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def settings(self) -> type[BaseSettings]: ...

    @property
    def personal_data(self) -> PlatformData | None: ...

    @property
    def migrations(self) -> tuple[str, ...]: ...

    def configured(self, settings: Settings) -> bool:
        """Whether to mount it with these settings."""
        ...

    def mount(self, app: web.Application, runtime: Runtime) -> None:
        """Add its routes to ``app``, register its door with ``runtime.lifecycle``, and tie its
        start and stop to the app's."""
        ...

    def describe(self, settings: Settings, base: str) -> str:
        """Its banner line: where it listens, or what to set."""
        ...
