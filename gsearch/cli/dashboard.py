"""`gsearch dashboard`: optuna-dashboard on the same storage."""

from __future__ import annotations

import argparse
import errno

from gsearch.cli.app import console
from gsearch.cli.types import _add_storage, _port, _text
from gsearch.errors import GsearchError


def _add_dashboard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="open optuna-dashboard on the same storage")
    _add_storage(p)
    p.add_argument("--host", type=_text, default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8080)
    p.set_defaults(func=_cmd_dashboard)


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from optuna_dashboard import run_server

    from gsearch.paths import DEFAULT_STORAGE_URL as DEFAULT_STORAGE
    from gsearch.storage import open_storage, refuse_memory_storage

    url = args.storage or DEFAULT_STORAGE
    refuse_memory_storage(url, shows="the dashboard would show no study")
    storage = open_storage(url, heartbeat_interval=None, create=False)
    _check_bind(args.host, args.port)
    console.print(f"optuna-dashboard on http://{args.host}:{args.port} (Ctrl-C stops)")
    try:
        run_server(storage, host=args.host, port=args.port)
    except OSError as error:  # lost the address between the check and the server's bind
        raise GsearchError(f"cannot serve on {args.host}:{args.port}: {error.strerror}") from None
    return 0


def _check_bind(host: str, port: int) -> None:
    """Bind ``host:port`` once (and let go) so that a bad address is one line before
    the server starts."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise GsearchError(f"cannot resolve --host {host!r}: {error}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            hint = (
                "another program listens there: pass another --port"
                if error.errno == errno.EADDRINUSE
                else "pass an address of this machine as --host, or another --port"
            )
            raise GsearchError(
                f"cannot listen on {host}:{port}: {error.strerror}; {hint}"
            ) from None
