"""`hpsearch dashboard`: optuna-dashboard over hpsearch's storage, reading only.

The storage is opened as every read command opens it (hpsearch's SQLite settings, URL
checks, passwords never shown), then made read-only twice: the web application answers any
request but GET and HEAD with 405, and the database refuses writes (`store.readonly`), so
the dashboard's buttons that would change a study (notes, deleting, telling trials) fail
instead of changing it.
"""

from __future__ import annotations

import socketserver
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from hpsearch.errors import HpsearchError
from hpsearch.store.engines import redact
from hpsearch.store.readonly import forbid_writes
from hpsearch.view.queries import open_reader

READ_METHODS = ("GET", "HEAD")
MISSING = (
    "the dashboard needs optuna-dashboard, an optional extra: pip install 'hpsearch[dashboard]'"
)

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


def dashboard_app(url: str) -> WsgiApp:
    """optuna-dashboard's WSGI application on the storage at `url`, refusing every write."""
    try:
        import optuna_dashboard
    except ImportError:
        raise HpsearchError(MISSING) from None
    storage = forbid_writes(open_reader(url))
    return read_only(optuna_dashboard.wsgi(storage))


def read_only(app: WsgiApp) -> WsgiApp:
    """`app`, answering every request that could change something with 405."""

    def guarded(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET").upper() in READ_METHODS:
            return app(environ, start_response)
        body = b'{"reason": "hpsearch dashboard is read only"}'
        start_response(
            "405 Method Not Allowed",
            [
                ("Content-Type", "application/json"),
                ("Allow", ", ".join(READ_METHODS)),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    return guarded


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a browser's open connections never keep the process alive


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # no line per request; errors still reach stderr through the server


def serve_dashboard(url: str, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve the dashboard of `url` on host:port (0: any free port) until interrupted;
    `on_ready` gets the address to open, once the socket listens."""
    app = dashboard_app(url)
    try:
        server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    except OSError as error:
        raise HpsearchError(
            f"cannot serve on {host}:{port}: {error.strerror}; choose another --port or --host"
        ) from None
    with server:
        shown = f"[{host}]" if ":" in host else host
        on_ready(f"http://{shown}:{server.server_port}/dashboard/")
        server.serve_forever()


def describe(url: str, address: str) -> str:
    return f"Dashboard of {redact(url)} (read only) at {address}; Ctrl-C stops it"
