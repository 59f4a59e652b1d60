"""The demo's mail server and webhook endpoint: they keep what monitord sends, in the working directory.

``MailSink`` is an SMTP server (aiosmtpd) that accepts every message, without
TLS or login, and stores it as ``mail/NNNN-<first recipient>.eml``, the message
as sent with ``Return-Path`` and ``Delivered-To`` in front, as a mail server
delivers it into a mailbox. ``WebhookSink`` is an HTTP endpoint (Starlette on
uvicorn, the daemon's own HTTP stack) that answers every POST with 200 and
stores its JSON body, indented, as ``webhook/NNNN-<path>.json``; the file's
modification time is when the body arrived.

Both listen on loopback, run on the demo's event loop, and tell each delivery
on one line through ``say`` (recipient or path, then the subject or title).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import Callable, Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

LOOPBACK = "127.0.0.1"
"""Where the sinks listen: they accept anything from anyone, so never beyond this host."""

MAIL_DIR = "mail"
"""The working directory's folder of received e-mails (``*.eml``)."""
WEBHOOK_DIR = "webhook"
"""The working directory's folder of received webhook bodies (``*.json``)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")


def _slug(text: str) -> str:
    """``text`` as a piece of a file name (``/hooks/noc-oncall`` -> ``hooks-noc-oncall``)."""
    return _UNSAFE.sub("-", text).strip("-.") or "root"


def clear(directory: Path, pattern: str) -> None:
    """Create ``directory`` and remove what an earlier demo stored there (files matching ``pattern``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for f in directory.glob(pattern):
        f.unlink(missing_ok=True)


def _listening_socket(host: str, port: int, what: str) -> socket.socket:
    """A TCP socket bound and listening; ``OSError`` naming ``what`` and the address when it cannot be."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restarted demo need not wait out TIME_WAIT
        sock.bind((host, port))
        sock.listen(32)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"{what} cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


class MailSink:
    """An SMTP server on loopback that stores every message it is given in ``directory`` and says so.

    ``port`` 0 takes any free port; ``port`` holds the real one after ``start``.
    """

    def __init__(self, directory: Path, say: Callable[[str], None], port: int = 0, host: str = LOOPBACK) -> None:
        self.directory = directory
        self.say = say
        self.host, self.port = host, port
        self.count = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen; raises ``OSError`` naming the address when the port is taken."""
        from aiosmtpd.smtp import SMTP  # imported here: only the demo needs a mail server

        sink = self

        class Handler:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
                sink.store(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content)
                return "250 OK: stored"

        sock = _listening_socket(self.host, self.port, "the demo's SMTP server")
        loop = asyncio.get_running_loop()
        # hostname given: aiosmtpd would otherwise ask DNS for this machine's FQDN; SMTPUTF8 for Chinese names.
        self._server = await loop.create_server(
            lambda: SMTP(Handler(), hostname="localhost", enable_SMTPUTF8=True, decode_data=False), sock=sock)
        self.port = sock.getsockname()[1]

    def store(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> Path:
        """Write one received message to ``directory`` as an .eml file, print its summary; the file."""
        self.count += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.count:04d}-{_slug(rcpt_tos[0] if rcpt_tos else 'nobody')}.eml"
        envelope = [f"Return-Path: <{mail_from}>"] + [f"Delivered-To: {r}" for r in rcpt_tos]
        path.write_bytes("".join(f"{line}\r\n" for line in envelope).encode() + content)
        headers = BytesParser(policy=policy.default).parsebytes(content, headersonly=True)
        self.say(f"  mail    to {headers.get('To', ', '.join(rcpt_tos))}: {headers.get('Subject', '')}"
                 f"  [{MAIL_DIR}/{path.name}]")
        return path

    async def stop(self) -> None:
        """Stop listening (a session still open is dropped)."""
        if self._server is None:
            return
        self._server.close()
        # From Python 3.12 wait_closed waits for open sessions too; a client gone quiet must not hold the demo up.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 1.0)
        self._server = None


class _Server(uvicorn.Server):
    """A uvicorn server that leaves Ctrl-C to the demo it runs inside."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would take SIGINT/SIGTERM for itself; the demo stops its parts in order.
        yield


class WebhookSink:
    """An HTTP endpoint on loopback that takes a POST on any path, stores its body in ``directory`` and says so.

    ``port`` 0 takes any free port; ``port`` holds the real one after ``start``.
    """

    def __init__(self, directory: Path, say: Callable[[str], None], port: int = 0, host: str = LOOPBACK) -> None:
        self.directory = directory
        self.say = say
        self.host, self.port = host, port
        self.count = 0
        self._server: _Server | None = None
        self._serving: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL (append any path)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Listen and serve on the running loop; raises ``OSError`` naming the address when the port is taken."""
        sock = _listening_socket(self.host, self.port, "the demo's webhook endpoint")
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST", "PUT"])])
        config = uvicorn.Config(app, http="h11", ws="none", lifespan="off", log_config=None, access_log=False,
                                server_header=False, timeout_graceful_shutdown=1)
        self._server = _Server(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]), name="demo-webhook-sink")

    async def _receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.store(request.url.path, body)
        return JSONResponse({"status": "stored"})

    def store(self, path: str, body: bytes) -> Path:
        """Write one received body to ``directory`` (indented when it is JSON), print its summary; the file."""
        self.count += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        file = self.directory / f"{self.count:04d}-{_slug(path)}.json"
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        file.write_bytes(body if doc is None else (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode())
        self.say(f"  webhook POST {path}: {_webhook_title(doc)}  [{WEBHOOK_DIR}/{file.name}]")
        return file

    async def stop(self) -> None:
        """Stop serving; returns once the server has (open requests get at most a second)."""
        if self._server is None or self._serving is None:
            return
        self._server.should_exit = True
        await self._serving
        self._server = self._serving = None


def _webhook_title(doc: Any) -> str:
    """What a body is about, in a line: monitord's ``title`` (and to whom), or its size."""
    if not isinstance(doc, dict):
        return "(not a monitord notice)"
    person = doc.get("person") if isinstance(doc.get("person"), dict) else None
    to = f" (for {person.get('name')})" if person else ""
    return f"{doc.get('title', '(no title)')}{to}"

