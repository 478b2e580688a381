"""``yanex ui`` beside another: two servers on one host (cookies ignore ports), each keeping its
own token cookie (the fixtures of tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.ui_support import Server, start, stop


def test_two_servers_on_one_host_keep_their_own_token_cookies(
    browser: Any, server: Server, store: Path
) -> None:
    other = start(store)
    try:
        status, headers, _ = other.get("/?token=" + other.token, token=False)
        assert status == 303
        assert headers["Set-Cookie"].startswith(f"yanex_token_{other.port}=")
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        first = opened(context, server)
        second = opened(context, other)  # its cookie goes to the same host
        for page in (first, second):  # neither cookie replaced the other
            page.reload()
            page.wait_for_selector("body[data-loaded]", timeout=10_000)
            assert page.locator("table.runs tbody tr").count() == 7
        context.close()
    finally:
        stop(other)


def opened(context: Any, server: Server) -> Any:
    """The runs page of ``server`` in ``context`` (whose cookies every page of it shares)."""
    page = context.new_page()
    page.goto(server.url)  # trades the token for the cookie
    page.wait_for_selector("body[data-loaded]", timeout=30_000)
    return page
