"""``dreamreel ui``: serve the studio until Ctrl-C (or SIGTERM); a render still running
then is stopped the same way, its frames kept for a resume."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from pathlib import Path

from ..runtime.errors import DreamreelError
from .server import make_server

LOCAL_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def exposed_warning(host: str) -> str | None:
    """The warning for a host other than the loopback: the studio has no login."""
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    except ValueError:
        if host == "localhost":
            return None
    return (
        f"--host {host}: the studio is reachable by anyone on that network, with no "
        f"password; they can render, and read the renders under the out root"
    )


def check_port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise DreamreelError(f"--port expects 0 to 65535, got {port}")
    return port


def run_studio(
    host: str, port: int, out_root: Path, say: Callable[[str], None], warn: Callable[[str], None]
) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing phones home anyway
    warning = exposed_warning(host)
    if warning:
        warn(warning)
    server = make_server(host, check_port(port), out_root)
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    say(f"dreamreel studio on http://{shown}:{bound_port}/ (renders in {out_root}/); Ctrl-C stops")
    try:
        server.serve_forever(poll_interval=0.5)
    finally:  # Ctrl-C or SIGTERM: a running render is stopped, its frames kept
        server.server_close()
        server.studio.queue.close()
    return 0
