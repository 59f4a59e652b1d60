"""Real receiving servers for notifier tests (and the daemon's end-to-end tests): SMTP, webhook, Alertmanager.

Each is a context manager that starts on a free loopback port and records
what it receives::

    with SmtpServer(tmp_path) as smtp:        # STARTTLS (trustme CA) + AUTH required
        ...                                    # smtp.settings(): the SmtpSettings to send through it
        smtp.wait_for(1)[0].message["Subject"]
    with WebhookServer(statuses=[503, 200]) as hook:
        ...                                    # hook.url; hook.wait_for(2)[1].json()
    with Alertmanager(tmp_path, webhook_url=hook.url) as am:   # the Debian binary, routing to the hook
        ...                                    # am.url

``need(what, found)`` (tests/conftest.py) skips a test when a server or binary is missing, unless
the environment says ``CI``: there a missing part fails the test.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from monitord.config.alerting import SmtpSettings
from tests.conftest import need

ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_port_url(path: str = "/") -> str:
    """An http:// URL on a loopback port where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}{path}"


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


# SMTP -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    login: str  # who authenticated

    def text(self) -> str:
        """The plain-text part."""
        part = self.message.get_body(("plain",))
        return str(part.get_content()) if part is not None else ""

    def html(self) -> str:
        """The HTML part."""
        part = self.message.get_body(("html",))
        return str(part.get_content()) if part is not None else ""


class SmtpServer:
    """aiosmtpd on a free port: STARTTLS with a certificate of a throw-away CA, AUTH required.

    ``reply`` maps a recipient to an SMTP reply (e.g. ``"450 mailbox busy"``) for failure tests.
    """

    def __init__(self, workdir: Path, *, user: str = "monitord", password: str = "s3cret-密码") -> None:
        self.workdir = workdir
        self.user, self.password = user, password
        self.port = free_port()
        self.mails: list[Mail] = []
        self.reply: dict[str, str] = {}
        self.ca_file = workdir / "smtp-ca.pem"
        self.password_file = workdir / "smtp-password"
        self._controller: Any = None

    def settings(self, **overrides: Any) -> SmtpSettings:
        """Settings that send through this server (STARTTLS, AUTH, the test CA)."""
        base: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "sender": "monitord@noc.example.com",
                                "starttls": True, "username": self.user, "password_file": self.password_file,
                                "ca_file": self.ca_file, "timeout": timedelta(seconds=5)}
        return SmtpSettings(**{**base, **overrides})

    def __enter__(self) -> SmtpServer:
        try:
            import trustme
            from aiosmtpd.controller import Controller
            from aiosmtpd.smtp import AuthResult, LoginPassword
        except ImportError as exc:
            need(f"aiosmtpd and trustme ({exc.name})", False)
            raise
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.password_file.write_text(self.password + "\n", encoding="utf-8")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
        server = self

        def authenticate(_srv: Any, session: Any, _env: Any, _mech: str, data: Any) -> AuthResult:
            ok = (isinstance(data, LoginPassword) and data.login.decode() == server.user
                  and data.password.decode() == server.password)
            return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

        class Handler:
            async def handle_RCPT(self, _srv: Any, _session: Any, envelope: Any, address: str,
                                  _options: list[str]) -> str:
                if address in server.reply:
                    return server.reply[address]
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, _srv: Any, session: Any, envelope: Any) -> str:
                message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
                auth = getattr(session, "auth_data", None)
                login = auth.login.decode() if isinstance(auth, LoginPassword) else ""
                server.mails.append(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), message,  # type: ignore[arg-type]
                                         login))
                return "250 Message accepted"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=tls,
                                      require_starttls=True, auth_required=True, auth_require_tls=True,
                                      authenticator=authenticate, decode_data=False)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._controller is not None:
            self._controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Mail]:
        """The first ``count`` mails, waiting for them to arrive."""
        _wait(lambda: len(self.mails) >= count, timeout, f"{count} mail(s)")
        return self.mails[:count]


# webhook --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request the webhook server received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class WebhookServer:
    """An HTTP server in a thread that records every request and answers from a script of statuses.

    ``statuses`` are answered in order, then ``200`` for every further request.
    """

    statuses: list[int] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The server's base URL (any path is accepted)."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> WebhookServer:
        hook = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    hook.requests.append(Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                                                 body))
                    status = hook.statuses.pop(0) if hook.statuses else 200
                reply = b'{"status":"ok"}' if status < 300 else b'{"error":"scripted failure"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0, path: str | None = None) -> list[Request]:
        """The first ``count`` requests (to ``path``, if given), waiting for them to arrive."""
        def matching() -> list[Request]:
            return [r for r in self.requests if path is None or r.path == path]
        _wait(lambda: len(matching()) >= count, timeout, f"{count} request(s) to {path or 'the webhook'}")
        return matching()[:count]


# Alertmanager ---------------------------------------------------------------------------------


def alertmanager_binary() -> str | None:
    """The Alertmanager executable (Debian names it prometheus-alertmanager), or None."""
    return next((found for name in ALERTMANAGER_BINARIES if (found := shutil.which(name))), None)


class Alertmanager:
    """The real Alertmanager on a free port, clustering off, routing every alert to ``webhook_url`` at once."""

    def __init__(self, workdir: Path, webhook_url: str, *, group_interval: str = "1s") -> None:
        self.workdir = workdir
        self.webhook_url = webhook_url
        self.group_interval = group_interval
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"alertmanager-{self.port}.log"

    @property
    def url(self) -> str:
        """The base URL to configure monitord's alertmanager notifier with."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Alertmanager:
        binary = alertmanager_binary()
        need("prometheus-alertmanager (apt-get install prometheus-alertmanager; .ci/alertmanager.sh)",
             binary is not None)
        assert binary is not None
        config = self.workdir / f"alertmanager-{self.port}.yml"
        # group_by ['...']: one group per alert, so each alert's firing and resolve reach the webhook promptly.
        config.write_text(json.dumps({
            "route": {"receiver": "test", "group_by": ["..."], "group_wait": "0s",
                      "group_interval": self.group_interval, "repeat_interval": "1h"},
            "receivers": [{"name": "test", "webhook_configs": [{"url": self.webhook_url, "send_resolved": True}]}],
        }), encoding="utf-8")
        storage = self.workdir / f"alertmanager-{self.port}-data"
        storage.mkdir(exist_ok=True)
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.path={storage}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=debug"],
                stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(self._ready, 20.0, "Alertmanager to be ready")
        except AssertionError:
            self.__exit__()
            raise AssertionError("Alertmanager did not start:\n" + self.log.read_text(errors="replace")) from None
        return self

    def _ready(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise AssertionError("Alertmanager exited:\n" + self.log.read_text(errors="replace"))
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
            return bool(r.status == 200)
        return False

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds now (its ``GET /api/v2/alerts``)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as r:
            return list(json.load(r))

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


@contextlib.contextmanager
def webhook(statuses: list[int] | None = None) -> Iterator[WebhookServer]:
    """A started ``WebhookServer`` (a shorthand for tests)."""
    with WebhookServer(list(statuses or [])) as server:
        yield server
