"""The daemon's one HTTP server: probes, ``/metrics``, the event intake and the JSON API.

A Starlette app over a ``Backend`` (the daemon, wired in ``app.py``), served by
uvicorn on the daemon's own event loop through ``ApiServer``. The routes are
described by the hand-written ``openapi.yaml`` next to this module, served at
``/api/v1/openapi.json``; the tests fail when the two drift apart.

Safety: write endpoints need ``Authorization: Bearer <token>``, the token read
once from ``ApiSettings.token_file``; read endpoints need it only with
``auth_reads``; probes and the OpenAPI document never do. Request bodies are
capped at ``max_body`` bytes.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import uvicorn
import yaml
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from monitord.alerting.mute import silence_problem
from monitord.config.alerting import Matcher, parse_matcher
from monitord.domain import Event, Silence
from monitord.reports.i18n import LANGUAGES
from monitord.reports.render import FAULT_FORMATS, MONTHLY_FORMATS
from monitord.sources.events import EventError, parse_event, parse_instant

log = logging.getLogger(__name__)

MIB = 1024 * 1024


class ApiSettingsError(ValueError):
    """The API cannot be built or bound as configured; the message says why and names the file or address."""


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Where the HTTP server listens, how it authenticates and how large a request body may be."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 9464
    token_file: Path | None = None  # None: the daemon accepts no writes over HTTP (403)
    auth_reads: bool = False
    max_body: int = MIB


class EventsRejected(ValueError):
    """Raised by ``Backend.ingest`` for well-formed events it will not take (unknown circuit, ...).

    ``problems`` are ``(index, message)`` pairs; the request is answered 400 and nothing is stored.
    """

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        super().__init__("; ".join(f"{i}: {m}" for i, m in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What storing a batch of events did: how many were new, how many already stored."""

    new: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """Whether a reload swapped in the new set, and every problem of the new files otherwise."""

    ok: bool
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NewSilence:
    """A silence as requested over HTTP, valid in itself: matchers in canonical text, start None for "now"."""

    matchers: tuple[str, ...]
    starts_at: datetime | None
    ends_at: datetime
    created_by: str
    comment: str


class ReportRejected(ValueError):
    """Raised by the backend's report methods for a parameter the report cannot be made for."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"`{field}`: {message}")
        self.field = field


class SilenceRejected(ValueError):
    """Raised by ``Backend.add_silence`` for a silence valid in itself but not now (e.g. it has already ended)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"`{field}`: {message}")
        self.field = field


def silence_json(s: Silence, now: datetime, tz: tzinfo | None = None) -> dict[str, Any]:
    """A silence as the API shows it (Alertmanager's field names), with its state at ``now``; times in ``tz``."""

    def iso(t: datetime) -> str:
        return (t.astimezone(tz) if tz is not None else t).isoformat()

    return {"id": s.id, "matchers": list(s.matchers), "startsAt": iso(s.starts_at), "endsAt": iso(s.ends_at),
            "createdBy": s.created_by, "comment": s.comment, "updatedAt": iso(s.updated_at),
            "status": {"state": s.state(now).value}}


class Backend(Protocol):
    """What the HTTP API needs from the daemon.

    Called on the event loop, so the synchronous methods must return quickly.
    ``reload`` is a coroutine because building the new set may take seconds: the
    daemon can build it off the loop and swap on it.
    """

    def ingest(self, events: list[Event]) -> IngestResult:
        """Store the events, all or none; an already stored event counts as a duplicate.

        Raises ``EventsRejected`` for events it will not take.
        """
        ...

    def tickets(self) -> list[dict[str, Any]]:
        """The tickets as JSON-ready objects."""
        ...

    def circuits(self) -> list[dict[str, Any]]:
        """The circuits with their status as JSON-ready objects."""
        ...

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts as JSON-ready objects."""
        ...

    def ready(self) -> bool:
        """Whether the daemon is ready to serve (state loaded, storage reachable)."""
        ...

    async def reload(self) -> ReloadResult:
        """Rebuild configuration, rules and inventory; swap them in only when all are valid."""
        ...

    async def metrics(self) -> bytes:
        """The Prometheus text exposition of the daemon's metrics.

        A coroutine because writing it may take most of a second for a large
        network: the daemon takes a snapshot on the loop and writes the text in
        a worker thread, so probes and events are served meanwhile.
        """
        ...

    def monthly_report(self, month: str, customers: list[str], fmt: str, lang: str) -> tuple[str, str]:
        """The monthly SLA report of ``month`` (``YYYY-MM``) as of now and its media type.

        ``customers`` empty: every customer. ``fmt`` is one of ``render.MONTHLY_FORMATS``.
        Raises ``ReportRejected`` naming the parameter it cannot make the report for.
        """
        ...

    def fault_report(self, ticket: str, fmt: str, lang: str) -> tuple[str, str] | None:
        """One fault's report as of now and its media type; None when there is no such ticket."""
        ...

    def silences(self) -> list[dict[str, Any]]:
        """Every stored silence as ``silence_json`` gives it, by start."""
        ...

    def add_silence(self, silence: NewSilence) -> dict[str, Any]:
        """Store a new silence (the backend picks its id and, if not given, its start); the stored one.

        Raises ``SilenceRejected`` for a silence that cannot start (its end has passed).
        """
        ...

    def expire_silence(self, silence_id: str) -> dict[str, Any] | None:
        """End a silence now; the silence afterwards, or None when there is no such silence."""
        ...


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of this API, loaded from ``openapi.yaml``."""
    text = resources.files("monitord").joinpath("openapi.yaml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def read_token(path: Path) -> bytes:
    """The bearer token in ``path``, surrounding whitespace removed; raises ``ApiSettingsError``."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiSettingsError(f"cannot read the API token file {path}: {exc}") from None
    if not token:
        raise ApiSettingsError(f"the API token file {path} is empty")
    return token.encode("utf-8")


def _errors(status: int, *errors: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": list(errors)}, status_code=status, headers=headers)


class _BodyTooLarge(Exception):
    pass


Endpoint = Callable[[Request], Awaitable[Response]]


class _Api:
    """The endpoints, bound to one backend, token and settings."""

    def __init__(self, backend: Backend, settings: ApiSettings, token: bytes | None) -> None:
        self.backend = backend
        self.settings = settings
        self.token = token

    def routes(self) -> list[Route]:
        """Every route the app serves; each is in ``openapi.yaml``."""
        write, read, open_ = self._write, self._read, self._open
        return [
            Route("/-/healthy", open_(self.healthy), methods=["GET"]),
            Route("/-/ready", open_(self.ready), methods=["GET"]),
            Route("/-/reload", write(self.reload), methods=["POST"]),
            Route("/metrics", read(self.metrics), methods=["GET"]),
            Route("/api/v1/events", write(self.post_events), methods=["POST"]),
            Route("/api/v1/tickets", read(self.tickets), methods=["GET"]),
            Route("/api/v1/circuits", read(self.circuits), methods=["GET"]),
            Route("/api/v1/alerts", read(self.alerts), methods=["GET"]),
            Route("/api/v1/silences", read(self.silences), methods=["GET"]),
            Route("/api/v1/silences", write(self.post_silence), methods=["POST"]),
            Route("/api/v1/silences/{id}", write(self.expire_silence), methods=["DELETE"]),
            Route("/api/v1/reports/monthly", read(self.monthly_report), methods=["GET"]),
            Route("/api/v1/reports/fault/{ticket}", read(self.fault_report), methods=["GET"]),
            Route("/api/v1/openapi.json", open_(self.openapi), methods=["GET"]),
        ]

    # Starlette treats functions and bound methods as request -> response endpoints;
    # the guards return plain functions so that stays true.
    def _open(self, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            return await endpoint(request)

        return guarded

    def _read(self, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if self.settings.auth_reads and (refusal := self._refusal(request)) is not None:
                return refusal
            return await endpoint(request)

        return guarded

    def _write(self, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if (refusal := self._refusal(request)) is not None:
                return refusal
            return await endpoint(request)

        return guarded

    def _refusal(self, request: Request) -> Response | None:
        """None when the request carries the token, else the 401 (or 403 without a token) to send."""
        if self.token is None:
            return _errors(403, {"message": "writes are disabled: no http.token_file is configured"})
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return _errors(401, {"message": "this endpoint needs an Authorization: Bearer <token> header"},
                           headers={"WWW-Authenticate": 'Bearer realm="monitord"'})
        # Starlette decodes headers as latin-1, so this gives back the bytes that were sent.
        presented = credentials.strip().encode("latin-1")
        if not hmac.compare_digest(presented, self.token):
            client = request.client.host if request.client else "?"
            log.warning("refused %s %s from %s: wrong bearer token", request.method, request.url.path, client)
            return _errors(401, {"message": "wrong bearer token"},
                           headers={"WWW-Authenticate": 'Bearer realm="monitord", error="invalid_token"'})
        return None

    async def healthy(self, request: Request) -> Response:
        """GET /-/healthy: 200 while the process runs."""
        return PlainTextResponse("monitord is healthy.\n")

    async def ready(self, request: Request) -> Response:
        """GET /-/ready: 200 when the backend is ready, 503 otherwise."""
        if self.backend.ready():
            return PlainTextResponse("monitord is ready.\n")
        return PlainTextResponse("monitord is not ready.\n", status_code=503)

    async def reload(self, request: Request) -> Response:
        """POST /-/reload: 200 when the new set is swapped in, 500 listing its errors otherwise."""
        result = await self.backend.reload()
        body = {"ok": result.ok, "errors": list(result.errors)}
        if not result.ok:
            log.warning("reload over HTTP failed: %s", "; ".join(result.errors))
        return JSONResponse(body, status_code=200 if result.ok else 500)

    async def metrics(self, request: Request) -> Response:
        """GET /metrics: the Prometheus exposition."""
        return Response(await self.backend.metrics(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def post_events(self, request: Request) -> Response:
        """POST /api/v1/events: validate every event, then store all of them or none."""
        doc = await self._json(request)
        if isinstance(doc, Response):
            return doc
        objects = doc if isinstance(doc, list) else [doc]
        events: list[Event] = []
        problems: list[dict[str, Any]] = []
        for index, obj in enumerate(objects):
            try:
                events.append(parse_event(obj))
            except EventError as exc:
                problems.append({"index": index, "message": str(exc)})
        if problems:
            return _errors(400, *problems)
        try:
            result = self.backend.ingest(events)
        except EventsRejected as exc:
            return _errors(400, *({"index": i, "message": m} for i, m in exc.problems))
        body = {"received": len(events), "new": result.new, "duplicates": result.duplicates}
        return JSONResponse(body, status_code=201 if result.new else 200)

    async def _json(self, request: Request) -> Any:
        """The request body parsed as JSON, or the 413 / 400 response refusing it."""
        try:
            raw = await self._body(request)
        except _BodyTooLarge:
            return _errors(413, {"message": f"the request body is larger than {self.settings.max_body} bytes"})
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and undecodable bytes are ValueErrors
            return _errors(400, {"message": f"the body is not valid JSON: {exc}"})

    async def _body(self, request: Request) -> bytes:
        """The request body, refused as soon as it is known to pass ``max_body``."""
        limit = self.settings.max_body
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        # A chunked body declares no length: count while reading, never buffer past the limit.
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def tickets(self, request: Request) -> Response:
        """GET /api/v1/tickets."""
        return JSONResponse({"tickets": self.backend.tickets()})

    async def circuits(self, request: Request) -> Response:
        """GET /api/v1/circuits."""
        return JSONResponse({"circuits": self.backend.circuits()})

    async def alerts(self, request: Request) -> Response:
        """GET /api/v1/alerts."""
        return JSONResponse({"alerts": self.backend.alerts()})

    async def silences(self, request: Request) -> Response:
        """GET /api/v1/silences."""
        return JSONResponse({"silences": self.backend.silences()})

    async def post_silence(self, request: Request) -> Response:
        """POST /api/v1/silences: a new silence; 400 naming each bad field."""
        doc = await self._json(request)
        if isinstance(doc, Response):
            return doc
        parsed = parse_silence(doc)
        if isinstance(parsed, list):
            return _errors(400, *({"message": m, **({"field": f} if f else {})} for f, m in parsed))
        try:
            stored = self.backend.add_silence(parsed)
        except SilenceRejected as exc:
            return _errors(400, {"field": exc.field, "message": str(exc)})
        return JSONResponse(stored, status_code=201)

    async def expire_silence(self, request: Request) -> Response:
        """DELETE /api/v1/silences/{id}: expire a silence now (again: no change)."""
        silence_id = request.path_params["id"]
        expired = self.backend.expire_silence(silence_id)
        if expired is None:
            return _errors(404, {"message": f"no silence with id {silence_id!r}"})
        return JSONResponse(expired)

    async def monthly_report(self, request: Request) -> Response:
        """GET /api/v1/reports/monthly?month=YYYY-MM[&customer=ID...][&format=][&lang=]."""
        q = request.query_params
        problems = _choice_problems(q, MONTHLY_FORMATS)
        if "month" not in q:
            problems.append({"field": "month", "message": "`month` is required, e.g. month=2026-10"})
        if problems:
            return _errors(400, *problems)
        try:
            body, media = self.backend.monthly_report(q["month"], q.getlist("customer"), q.get("format", "json"),
                                                      q.get("lang", LANGUAGES[0]))
        except ReportRejected as exc:
            return _errors(400, {"field": exc.field, "message": str(exc)})
        return Response(body, media_type=media)

    async def fault_report(self, request: Request) -> Response:
        """GET /api/v1/reports/fault/{ticket}[?format=][&lang=]."""
        q = request.query_params
        problems = _choice_problems(q, FAULT_FORMATS)
        if problems:
            return _errors(400, *problems)
        ticket = request.path_params["ticket"]
        made = self.backend.fault_report(ticket, q.get("format", "json"), q.get("lang", LANGUAGES[0]))
        if made is None:
            return _errors(404, {"message": f"no ticket {ticket!r}"})
        return Response(made[0], media_type=made[1])

    async def openapi(self, request: Request) -> Response:
        """GET /api/v1/openapi.json: the API's description."""
        return JSONResponse(openapi_document())


def _choice_problems(q: Any, formats: tuple[str, ...]) -> list[dict[str, Any]]:
    """The report parameters ``format`` and ``lang`` that are not one of their choices."""
    out = []
    for name, choices in (("format", formats), ("lang", LANGUAGES)):
        if name in q and q[name] not in choices:
            out.append({"field": name, "message": f"`{name}` must be one of {', '.join(choices)}, got {q[name]!r}"})
    return out


_SILENCE_FIELDS = ("matchers", "startsAt", "endsAt", "createdBy", "comment")


def parse_silence(doc: Any) -> NewSilence | list[tuple[str, str]]:
    """A POST /api/v1/silences body -> ``NewSilence``, or every problem as ``(field, message)``."""
    if not isinstance(doc, dict):
        return [("", "the body must be a JSON object with matchers, endsAt, createdBy and comment")]
    problems = [(k, f"`{k}` is not a field of a silence (expected: {', '.join(_SILENCE_FIELDS)})")
                for k in doc if k not in _SILENCE_FIELDS]
    matchers: list[Matcher] = []
    raw = doc.get("matchers")
    if not isinstance(raw, list) or not raw:
        problems.append(("matchers", '`matchers` must be a non-empty list of strings like \'alertname="CircuitDown"\''))
    else:
        for i, text in enumerate(raw):
            parsed = parse_matcher(text) if isinstance(text, str) else f"expected a string, got {text!r}"
            if isinstance(parsed, str):
                problems.append((f"matchers[{i}]", f"`matchers[{i}]`: {parsed}"))
            else:
                matchers.append(parsed)
        if len(matchers) == len(raw) and (why := silence_problem(matchers)) is not None:
            problems.append(("matchers", f"`matchers`: {why}"))
    times: dict[str, datetime | None] = {"startsAt": None, "endsAt": None}
    for key in times:
        if key in doc or key == "endsAt":
            try:
                times[key] = parse_instant(doc.get(key), key)
            except EventError as exc:
                problems.append((key, str(exc)))
    start, end = times["startsAt"], times["endsAt"]
    if start is not None and end is not None and end <= start:
        problems.append(("endsAt", "`endsAt` must be after `startsAt`"))
    texts: dict[str, str] = {}
    for key in ("createdBy", "comment"):
        value = doc.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append((key, f"`{key}` must be a non-empty string (who silences, and why)"))
        else:
            texts[key] = value.strip()
    if problems or end is None:
        return problems
    return NewSilence(tuple(str(m) for m in matchers), start, end, texts["createdBy"], texts["comment"])


async def _http_error(request: Request, exc: Exception) -> Response:
    # 404 and 405 as JSON like every other error, keeping e.g. the Allow header.
    assert isinstance(exc, HTTPException)
    return _errors(exc.status_code, {"message": exc.detail}, headers=dict(exc.headers) if exc.headers else None)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception after sending this; the client learns nothing internal.
    return _errors(500, {"message": "internal error; see the daemon's log"})


def build_app(backend: Backend, settings: ApiSettings) -> Starlette:
    """The API app over ``backend``; reads the token file now and raises ``ApiSettingsError`` on any problem."""
    token = read_token(settings.token_file) if settings.token_file is not None else None
    if settings.auth_reads and token is None:
        raise ApiSettingsError("http.auth_reads needs http.token_file: there is no token to check reads against")
    if settings.max_body <= 0:
        raise ApiSettingsError(f"the request body limit must be positive, got {settings.max_body}")
    return Starlette(
        routes=_Api(backend, settings, token).routes(),
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )


class _LoopServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the daemon it runs inside."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would take SIGINT/SIGTERM for itself; the daemon decides when the API stops.
        yield


class ApiServer:
    """The API app served by uvicorn on the running event loop, on a socket bound at construction.

    Binding here, not in ``serve``, makes a busy or forbidden address an
    ``ApiSettingsError`` at start-up instead of uvicorn's ``sys.exit`` inside a task.
    Use: ``task = asyncio.create_task(server.serve())``; later ``server.stop(); await task``.
    """

    def __init__(self, app: Starlette, settings: ApiSettings) -> None:
        self._socket = _bind(settings.listen_host, settings.listen_port)
        self.host = settings.listen_host
        self.port: int = self._socket.getsockname()[1]  # the real one when listen_port is 0
        config = uvicorn.Config(
            app,
            http="h11",
            ws="none",
            lifespan="off",  # the daemon starts and stops its own parts
            log_config=None,  # keep the daemon's logging setup
            access_log=False,  # a scrape every few seconds is not news
            server_header=False,
            proxy_headers=False,
            limit_concurrency=100,  # past it uvicorn answers 503 instead of queueing without bound
            timeout_graceful_shutdown=5,
        )
        self.server = _LoopServer(config)
        self._served = False

    @property
    def url(self) -> str:
        """The base URL the server listens on."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def serve(self) -> None:
        """Serve until ``stop``; returns after open requests are done (at most 5 s)."""
        self._served = True
        log.info("HTTP API listening on %s", self.url)
        await self.server.serve(sockets=[self._socket])

    def stop(self) -> None:
        """Ask the server to stop; ``serve`` returns once it has."""
        self.server.should_exit = True
        if not self._served:
            self._socket.close()


def _bind(host: str, port: int) -> socket.socket:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ApiSettingsError(f"cannot listen on {where}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart without waiting out TIME_WAIT
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ApiSettingsError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock
