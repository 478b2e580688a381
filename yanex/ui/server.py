"""The web view's server: routing, the token and Host checks, static files and JSON answers.

Standard library only (``http.server.ThreadingHTTPServer``): a read-only view of one SQLite file
needs no framework, and importing one would cost more than the server does. Every request is
refused (403) unless it carries the token printed at start-up (the ``token`` query parameter,
which a page load trades for an HttpOnly cookie, or the ``X-Yanex-Token`` header) and its ``Host``
header names the address the server is bound to, so that a web page elsewhere cannot read the
store through DNS rebinding. Each API request reads one snapshot through
``yanex.store.reading.reading(db, settle=False)``: a read-only connection that writes nothing and
never blocks a writer. Curves not kept from an earlier request are read the same way in reader
processes of the server's own (``yanex.ui.readers``), so that a page's parts are read side by side.
"""

from __future__ import annotations

import hmac
import os
import re
import socket
import sys
import traceback
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from yanex.errors import YanexError
from yanex.ui.answers import Request, Response, error_response, json_response, text_response

if TYPE_CHECKING:
    from yanex.db.engine import Database
    from yanex.ui.readers import Readers

STATIC = Path(__file__).parent / "static"
# Cookies ignore ports: each server names its own (``yanex_token_<port>``), so that two servers of
# one host (two stores, or two users of one machine over ``ssh -L``) do not log each other out.
COOKIE = "yanex_token_{port}"
HEADER = "X-Yanex-Token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
# Scripts and styles come from this server only; uPlot sets style attributes, hence 'unsafe-inline'
# for styles (no script runs inline).
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)


Route = Callable[[Request], Response]


def static_file(name: str) -> Response:
    """A file under ``static/``; 404 for anything else (no path leaves the folder)."""
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC.resolve()) or not path.is_file():
        return text_response(f"no such file: {name}", 404)
    content_type = TYPES.get(path.suffix, "application/octet-stream")
    return Response(200, content_type, file=path, headers=(("Cache-Control", "no-cache"),))


def _routes() -> list[tuple[re.Pattern[str], Route]]:
    from yanex.ui import batch, compare, experiment, runs, sql

    def page(name: str) -> Route:
        return lambda _request: static_file(name)

    table: list[tuple[str, Route]] = [
        (r"/", page("runs.html")),
        (r"/experiment/([^/]+)", page("experiment.html")),
        (r"/batch/([^/]+)", page("batch.html")),
        (r"/sql", page("sql.html")),
        (r"/compare", page("compare.html")),
        (r"/static/(.+)", lambda request: static_file(request.parts[0])),
        (r"/api/runs", runs.runs),
        (r"/api/experiment/([^/]+)", experiment.detail),
        (r"/api/experiment/([^/]+)/series", experiment.series),
        (r"/api/experiment/([^/]+)/points", experiment.points),
        (r"/api/experiment/([^/]+)/patch", experiment.patch),
        (r"/api/experiment/([^/]+)/output/(stdout|stderr)", experiment.output),
        (r"/api/experiment/([^/]+)/artifact/(.+)", experiment.artifact),
        (r"/api/batch/([^/]+)", batch.batch),
        (r"/api/sql", sql.sql),
        (r"/api/schema", sql.schema),
        (r"/api/compare", compare.compare),
        (r"/api/compare/curves", compare.curves),
        (r"/api/compare/bands", compare.bands),
        (r"/api/compare/points", compare.points),
    ]
    return [(re.compile(pattern), route) for pattern, route in table]


class UiServer(ThreadingHTTPServer):
    """The server, with what its handlers need: the store, the token, the Hosts accepted, what it
    keeps between requests and its curve readers (``yanex.ui.readers``)."""

    daemon_threads = True  # Ctrl-C does not wait for a browser's open connections

    def __init__(self, host: str, port: int, db: Database, token: str) -> None:
        from yanex.store.counts import SelectionCounts
        from yanex.ui.kept import Kept
        from yanex.ui.readers import MAX_READERS, Readers

        if ":" in host:  # an IPv6 address
            self.address_family = socket.AF_INET6
        # Before binding: a bind that fails closes the server, which closes the counts.
        self.counts = SelectionCounts(db.path)
        self.kept = Kept()
        self.readers: Readers | None = None  # once bound
        super().__init__((host, port), Handler)
        self.host = host
        self.db = db
        self.token = token
        self.routes = _routes()
        bound = self.server_address[1]
        self.port = int(bound)
        self.cookie = COOKIE.format(port=self.port)
        names = [host, *LOOPBACK] if host in LOOPBACK else [host]
        # Bound to every address, any name may reach it: the token is then the only guard.
        self.any_host = host in ("0.0.0.0", "::", "")
        self.hosts = {f"[{n}]:{bound}" if ":" in n else f"{n}:{bound}" for n in names}
        self.readers = Readers(db, min(MAX_READERS, os.cpu_count() or 1))

    def server_close(self) -> None:
        super().server_close()
        self.counts.close()
        if self.readers is not None:
            self.readers.close()

    @property
    def url(self) -> str:
        host = self.host
        shown = "127.0.0.1" if self.any_host else f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/?{urlencode({'token': self.token})}"


class Handler(BaseHTTPRequestHandler):
    server: UiServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm the body would wait for
    # the client's delayed ACK (40 ms per request on Linux).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a page polling every 2 s would fill the terminal."""

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        refusal = self._refusal(split.path, query)
        if refusal is not None:
            self._send(refusal)
            return
        if "token" in query and not split.path.startswith("/api/"):
            # The token came in the URL: keep it in a cookie and take it out of the address bar
            # (and of bookmarks and the history).
            rest = {key: values for key, values in query.items() if key != "token"}
            location = split.path + (f"?{urlencode(rest, doseq=True)}" if rest else "")
            cookie = f"{self.server.cookie}={self.server.token}; HttpOnly; SameSite=Strict; Path=/"
            self._send(Response(303, "text/plain", headers=(("Location", location), ("Set-Cookie", cookie))))
            return
        self._send(self._answer(split.path, query))

    def _refusal(self, path: str, query: dict[str, list[str]]) -> Response | None:
        host = self.headers.get("Host", "")
        if not self.server.any_host and host.lower() not in self.server.hosts:
            return text_response(f"Forbidden: Host {host!r} is not this server's address", 403)
        if self.server.any_host and not host.endswith(f":{self.server.port}"):
            return text_response(f"Forbidden: Host {host!r} is not this server's address", 403)
        given = [*query.get("token", []), self.headers.get(HEADER, "")]
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        if self.server.cookie in cookie:
            given.append(cookie[self.server.cookie].value)
        if not any(hmac.compare_digest(text.encode(), self.server.token.encode()) for text in given):
            return text_response("Forbidden: open the URL `yanex ui` printed (it carries the token)", 403)
        return None

    def _answer(self, path: str, query: dict[str, list[str]]) -> Response:
        for pattern, route in self.server.routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            parts = tuple(unquote(part) for part in match.groups())
            server = self.server
            request = Request(parts, query, server.db, server.counts, server.kept, server.readers)
            try:
                return route(request)
            except YanexError as error:
                return error_response(error)
            except Exception as error:  # a bug: said in one line, the traceback on the terminal
                traceback.print_exc(file=sys.stderr)
                line = f"internal error: {type(error).__name__}: {error}"
                return json_response({"error": line, "hint": None, "line": f"Error: {line}"}, 500)
        return text_response(f"no such page: {path}", 404)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            for name, value in (*SECURITY_HEADERS, *response.headers):
                self.send_header(name, value)
            if response.file is None:
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
                return
            with response.file.open("rb") as handle:
                size = handle.seek(0, 2)
                handle.seek(0)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                for chunk in _chunks(handle):
                    self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):  # the browser went away
            self.close_connection = True


def _chunks(handle: Any) -> Iterator[bytes]:
    while chunk := handle.read(1 << 20):
        yield chunk
