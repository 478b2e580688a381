"""What the tests of ``yanex ui`` share (``tests/test_ui*.py``): the real server in a subprocess on
127.0.0.1 (``--port 0``), the scripts of their store, and a page opened in headless Chromium. Their
fixtures (``store``, ``server``, ``browser``) are in ``tests/conftest.py``."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAIN = """
    import random
    import yanex
    lr = yanex.get_param("lr", 0.01)
    rng = random.Random(yanex.get_param("seed", 0))
    loss = 2.0
    for step in range(40):
        loss = loss * (1 - lr * 3) + 0.01 * rng.random()
        yanex.log_metrics({"loss": loss, "accuracy": 1 - loss / 2.5}, step=step)
"""
# 5,000 points with one spike at step 3,333; an artifact; some output.
LONG = """
    import yanex
    for step in range(5000):
        yanex.log_metrics({"signal": 1000.0 if step == 3333 else (step % 7) / 7.0}, step=step)
    yanex.save_artifact({"weights": [1, 2, 3]}, "model.json")
    for line in range(100):
        print("line", line)
"""
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str  # as printed: with the token
    port: int
    token: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(
        self, path: str, *, token: bool = True, host: str | None = None, cookie: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Host": host or f"127.0.0.1:{self.port}"}
        if token:
            headers["X-Yanex-Token"] = self.token
        if cookie:
            headers["Cookie"] = cookie
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        return response.status, dict(response.getheaders()), body

    def json(self, path: str, status: int = 200) -> Any:
        got, _, body = self.get(path)
        assert got == status, body
        return json.loads(body)


def start(home: Path, *args: str) -> Server:
    env = {**os.environ, "YANEX_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "yanex", "ui", "--port", "0", "--no-browser", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), (url, process.stderr.read() if process.stderr else "")
    port = int(url.split(":")[2].split("/")[0])
    return Server(process, url, port, url.split("token=")[1])


def stop(server: Server) -> tuple[int, str]:
    server.process.send_signal(signal.SIGINT)
    _, err = server.process.communicate(timeout=30)
    return server.process.returncode, err


def run(home: Path, cwd: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "yanex", "run", *args],
        cwd=cwd,
        env={**os.environ, "YANEX_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def open_page(browser: Any, server: Server, path: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url)  # trades the token for the cookie
    page.goto(server.base + path)
    page.wait_for_selector("body[data-loaded]", timeout=30_000)
    assert errors == []
    return page
