"""``yanex ui``: a local, read-only web view of the store (``yanex.ui``)."""

from __future__ import annotations

from yanex.cli.spec import Command, Param

DEFAULT_PORT = 8770


def ui_command(host: str, port: int, no_browser: bool) -> None:
    """Open a read-only web view of every experiment: the runs table with the CLI's filters, and
    each experiment's params, charts, output, artifacts and lineage, live while it runs.

    The first line printed is the URL to open. It carries a random access token: a request without
    it is refused, and so is one whose Host header is not the server's address. It binds to
    127.0.0.1; over ssh, forward the port (ssh -L 8770:127.0.0.1:8770 host). It reads through a
    read-only connection and never blocks a running batch. Ctrl-C stops it.

    Examples:

      yanex ui

      yanex ui --port 0 --no-browser
    """
    import secrets
    import sys

    from yanex.cli.render import echo
    from yanex.cli.store import store
    from yanex.errors import UsageError
    from yanex.ui.server import UiServer

    if host in ("0.0.0.0", "::"):
        echo(
            f"yanex: warning: --host {host} serves the store to every machine that can reach this one; "
            "only the token guards it",
            err=True,
        )
    try:
        server = UiServer(host, port, store(), secrets.token_urlsafe(24))
    except (OSError, OverflowError) as error:  # OverflowError: a port past 65535
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise UsageError(
            f"cannot listen on {host}:{port}: {reason}",
            hint="pass --port 0 for a free port, or another --host",
        ) from None
    try:  # from the printed URL on, a Ctrl-C is the way to stop it
        echo(server.url)
        sys.stdout.flush()
        if not no_browser:
            import webbrowser

            webbrowser.open(server.url)
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        echo("yanex ui stopped.", err=True)
    finally:
        server.server_close()


COMMAND = Command(
    ui_command,
    (
        Param("host", ("--host",), str, "127.0.0.1", "Address to listen on (0.0.0.0: every interface)."),
        Param("port", ("--port",), int, DEFAULT_PORT, "Port to listen on (0: a free one).", min=0),
        Param("no_browser", ("--no-browser",), bool, False, "Print the URL only; open no browser."),
    ),
)
