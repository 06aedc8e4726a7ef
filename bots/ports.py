"""Whether the server's port is free, asked before anything starts."""

from __future__ import annotations

import errno
import socket

from core.errors import ConfigurationError


class PortInUse(ConfigurationError):
    """Another process (often a Switchboard already running) listens on the port."""

    def __init__(self, port: int) -> None:
        super().__init__(
            f"port {port} is in use — is Switchboard already running? set PORT to use another"
        )
        self.port = port


def ensure_port_free(host: str, port: int) -> None:
    """Raise ``PortInUse`` when ``host:port`` cannot be bound. Checked before the embedded
    Postgres starts and the sample knowledge is read, so a second ``make run`` says so at
    once instead of ending in a traceback a minute later."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The server sets SO_REUSEADDR too: a port in TIME_WAIT is free for it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(port) from exc
            raise
