"""A real local webhook receiver for tests: records every POST, can answer with a status or hold requests open."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One POST as the receiver saw it."""

    key: str  # the Idempotency-Key header
    body: dict[str, Any]
    at: float  # time.time() when it arrived


class Hook:
    """An HTTP server on 127.0.0.1 that takes webhook POSTs; use as a context manager."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.hold = threading.Event()  # while set, requests are held open (not answered)
        self.release = threading.Event()
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with hook._lock:
                    hook.received.append(Received(self.headers.get("Idempotency-Key", ""), json.loads(body),
                                                  time.time()))
                    status = hook.statuses.pop(0) if hook.statuses else 200
                if hook.hold.is_set():
                    hook.release.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> list[str]:
        """The Idempotency-Keys received, in order (repeats included)."""
        with self._lock:
            return [r.key for r in self.received]

    def wait(self, count: int, seconds: float = 10.0, name: str | None = None) -> list[Received]:
        """Wait until at least ``count`` POSTs arrived (about alerts named ``name``) or the time is up; those."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and len(self.about(name)) < count:
            time.sleep(0.02)
        return self.about(name)

    def about(self, name: str | None) -> list[Received]:
        """The POSTs received so far about alerts named ``name`` (all with None)."""
        with self._lock:
            return [r for r in self.received if name is None or r.body["alerts"][0]["name"] == name]
