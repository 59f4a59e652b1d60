"""The HTTP API served by a real uvicorn on a loopback port, spoken to over real HTTP."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.routing import Route

from monitord.api import (
    ApiServer,
    ApiSettings,
    ApiSettingsError,
    IngestResult,
    NewSilence,
    ReloadResult,
    ReportRejected,
    SilenceRejected,
    build_app,
    openapi_document,
    silence_json,
)
from monitord.domain import Event, ObservationType, Silence, TicketEvent, TicketEventType, TicketSource
from monitord.sources.events import event_to_dict

TOKEN = "s3cret-token-for-tests"
GOOD = {"at": "2025-03-01T09:30:00+08:00", "type": "reported", "ticket": "T1", "circuit": "C1", "source": "customer"}
GOOD2 = {"at": "2025-03-01T09:40:00+08:00", "type": "dispatched", "ticket": "T1"}
DOWN = {"at": "2025-03-01T09:29:00+08:00", "type": "down", "circuit": "C1"}
NOW = datetime.fromisoformat("2025-03-01T10:00:00+08:00")  # the test backend's clock
SILENCE = {"matchers": ['alertname="CircuitDown"', 'circuit=~"GZ-.*"'], "endsAt": "2025-03-01T12:00:00+08:00",
           "createdBy": "wang.wei", "comment": "fibre cutover CR-1024"}


class Backend:
    """The daemon side in miniature: stores events once each and answers from them."""

    def __init__(self) -> None:
        self.stored: list[dict[str, str]] = []
        self.is_ready = True
        self.reload_errors: list[str] = []
        self.reloads = 0
        self.silence_list: list[Silence] = []
        self.registry = CollectorRegistry()
        Gauge("monitord_events_stored", "Events stored.", registry=self.registry).set_function(
            lambda: len(self.stored)
        )

    def ingest(self, events: list[Event]) -> IngestResult:
        new = [d for d in map(event_to_dict, events) if d not in self.stored]
        self.stored.extend(new)
        return IngestResult(new=len(new), duplicates=len(events) - len(new))

    def tickets(self) -> list[dict[str, Any]]:
        return [{"id": e["ticket"], "circuit": e["circuit"]} for e in self.stored if e["type"] == "reported"]

    def circuits(self) -> list[dict[str, Any]]:
        return [{"id": "C1", "sla_class": "AAA"}]

    def alerts(self) -> list[dict[str, Any]]:
        return []

    def ready(self) -> bool:
        return self.is_ready

    async def reload(self) -> ReloadResult:
        self.reloads += 1
        return ReloadResult(ok=not self.reload_errors, errors=list(self.reload_errors))

    async def metrics(self) -> bytes:
        return generate_latest(self.registry)

    def monthly_report(self, month: str, customers: list[str], fmt: str, lang: str) -> tuple[str, str]:
        if month != "2025-03":
            raise ReportRejected("month", f"month {month} has not begun")
        if fmt == "csv":
            return "month,customer,circuit\n2025-03,CUST1,C1\n", "text/csv"
        return json.dumps({"customers": [{"customer": c} for c in customers]}), "application/json"

    def fault_report(self, ticket: str, fmt: str, lang: str) -> tuple[str, str] | None:
        if ticket not in {e["ticket"] for e in self.stored}:
            return None
        return json.dumps({"ticket": ticket}), "application/json"

    def silences(self) -> list[dict[str, Any]]:
        return [silence_json(s, NOW) for s in self.silence_list]

    def add_silence(self, new: NewSilence) -> dict[str, Any]:
        if new.ends_at <= NOW:
            raise SilenceRejected("endsAt", "has already passed")
        s = Silence(f"s{len(self.silence_list) + 1}", new.matchers, new.starts_at or NOW, new.ends_at,
                    new.created_by, new.comment, NOW)
        self.silence_list.append(s)
        return silence_json(s, NOW)

    def expire_silence(self, silence_id: str) -> dict[str, Any] | None:
        for i, s in enumerate(self.silence_list):
            if s.id == silence_id:
                if s.ends_at > NOW:
                    s = self.silence_list[i] = replace(s, starts_at=min(s.starts_at, NOW), ends_at=NOW)
                return silence_json(s, NOW)
        return None


@dataclass
class Running:
    """One served app: its backend, app object and an HTTP client bound to its URL."""

    backend: Backend
    app: Starlette
    http: httpx.Client

    def post(self, path: str, token: str | None = TOKEN, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kw.pop("headers", {}))
        return self.http.post(path, headers=headers, **kw)

    def get(self, path: str, token: str | None = None, params: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(path, headers=headers, params=params)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def serve(token_file: Path) -> Iterator[Callable[..., Running]]:
    """Start the app on a real uvicorn in a thread with its own loop; stopped cleanly at teardown."""
    started: list[tuple[ApiServer, threading.Thread, httpx.Client]] = []

    def start(backend: Backend | None = None, **settings: Any) -> Running:
        backend = backend or Backend()
        settings.setdefault("token_file", token_file)
        api_settings = ApiSettings(listen_port=0, **settings)
        app = build_app(backend, api_settings)
        server = ApiServer(app, api_settings)
        thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        client = httpx.Client(base_url=server.url, timeout=10)
        started.append((server, thread, client))
        return Running(backend, app, client)

    yield start
    for server, thread, client in started:
        client.close()
        server.stop()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the server did not stop"


def _validate(instance: Any, schema: dict[str, Any]) -> None:
    """Validate against a schema of the OpenAPI document, its $refs resolved in the document."""
    doc = openapi_document()
    jsonschema.validate(instance, {"components": doc["components"], "allOf": [schema]})


def _response_spec(operation: dict[str, Any], status: int) -> dict[str, Any]:
    spec = operation["responses"][str(status)]
    if "$ref" in spec:
        name = spec["$ref"].removeprefix("#/components/responses/")
        spec = openapi_document()["components"]["responses"][name]
    return spec


def _check_documented(path: str, method: str, response: httpx.Response) -> None:
    """The response's status is documented for the operation, and a JSON body matches its schema."""
    operation = openapi_document()["paths"][path][method]
    assert str(response.status_code) in operation["responses"], (path, method, response.status_code)
    content = _response_spec(operation, response.status_code).get("content", {})
    media = response.headers["content-type"].split(";")[0]
    assert media in content, (path, method, media)
    if media == "application/json":
        _validate(response.json(), content[media]["schema"])


# --- authentication ---------------------------------------------------------------------------------------


def test_writes_need_the_right_bearer_token(serve):
    api = serve()
    for path in ("/api/v1/events", "/-/reload"):
        missing = api.post(path, token=None, json=GOOD)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        _check_documented(path, "post", missing)
        wrong = api.post(path, token="not-" + TOKEN, json=GOOD)
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        basic = api.http.post(path, headers={"Authorization": f"Basic {TOKEN}"}, json=GOOD)
        assert basic.status_code == 401
    assert api.backend.stored == [] and api.backend.reloads == 0

    assert api.post("/api/v1/events", json=GOOD).status_code == 201
    assert api.post("/-/reload").status_code == 200
    assert api.backend.stored == [GOOD] and api.backend.reloads == 1


def test_without_a_token_file_writes_are_refused(serve):
    api = serve(token_file=None)
    refused = api.post("/api/v1/events", token="anything", json=GOOD)
    assert refused.status_code == 403
    assert "token_file" in refused.json()["errors"][0]["message"]
    _check_documented("/api/v1/events", "post", refused)
    assert api.get("/api/v1/tickets").status_code == 200
    assert api.backend.stored == []


def test_reads_are_open_by_default(serve):
    api = serve()
    for path in ("/api/v1/tickets", "/api/v1/circuits", "/api/v1/alerts", "/api/v1/silences", "/metrics"):
        assert api.get(path).status_code == 200, path


def test_auth_reads_closes_reads_but_not_probes(serve):
    api = serve(auth_reads=True)
    for path in ("/api/v1/tickets", "/api/v1/circuits", "/api/v1/alerts", "/api/v1/silences", "/metrics"):
        refused = api.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Bearer")
        _check_documented(path, "get", refused)
        assert api.get(path, token="wrong").status_code == 401, path
        assert api.get(path, token=TOKEN).status_code == 200, path
    for path in ("/-/healthy", "/-/ready", "/api/v1/openapi.json"):
        assert api.get(path).status_code == 200, path


def test_token_file_problems_are_errors_at_build(tmp_path):
    backend = Backend()
    with pytest.raises(ApiSettingsError, match="cannot read"):
        build_app(backend, ApiSettings(token_file=tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.write_text(" \n")
    with pytest.raises(ApiSettingsError, match="is empty"):
        build_app(backend, ApiSettings(token_file=empty))
    with pytest.raises(ApiSettingsError, match="auth_reads"):
        build_app(backend, ApiSettings(auth_reads=True))


def test_a_busy_port_is_an_error_at_start(token_file):
    app = build_app(Backend(), ApiSettings(token_file=token_file))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ApiSettingsError, match=f"127.0.0.1:{port}"):
            ApiServer(app, ApiSettings(listen_port=port))


def test_serves_on_the_callers_loop_and_leaves_signals_to_it(token_file):
    """As in the daemon: a task on the main thread's loop, stopped by ``stop``, signal handlers untouched."""
    settings = ApiSettings(listen_port=0, token_file=token_file)
    server = ApiServer(build_app(Backend(), settings), settings)

    async def run() -> None:
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        task = asyncio.create_task(server.serve())
        while not server.server.started:
            await asyncio.sleep(0.01)
        assert {sig: signal.getsignal(sig) for sig in before} == before
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/-/healthy")).status_code == 200
        server.stop()
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(run())
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/-/healthy", timeout=2)


def test_listens_on_loopback_by_default():
    assert ApiSettings().listen_host == "127.0.0.1"


# --- events -------------------------------------------------------------------------------------------------


def test_one_object_and_an_array_are_both_accepted(serve):
    api = serve()
    one = api.post("/api/v1/events", json=DOWN)
    assert (one.status_code, one.json()) == (201, {"received": 1, "new": 1, "duplicates": 0})
    many = api.post("/api/v1/events", json=[GOOD, GOOD2])
    assert (many.status_code, many.json()) == (201, {"received": 2, "new": 2, "duplicates": 0})
    assert api.backend.stored == [DOWN, GOOD, GOOD2]
    assert api.get("/api/v1/tickets").json() == {"tickets": [{"id": "T1", "circuit": "C1"}]}


def test_resent_events_are_duplicates(serve):
    api = serve()
    api.post("/api/v1/events", json=[GOOD, GOOD2])
    again = api.post("/api/v1/events", json=[GOOD, GOOD2, DOWN])
    assert (again.status_code, again.json()) == (201, {"received": 3, "new": 1, "duplicates": 2})
    nothing_new = api.post("/api/v1/events", json=GOOD)
    assert (nothing_new.status_code, nothing_new.json()) == (200, {"received": 1, "new": 0, "duplicates": 1})
    for response in (again, nothing_new):
        _check_documented("/api/v1/events", "post", response)


def test_bad_events_name_index_and_field_and_nothing_is_stored(serve):
    api = serve()
    body = [
        GOOD,
        GOOD2,
        {**GOOD2, "at": "2025-03-01T09:40:00"},
        {**GOOD, "type": "exploded"},
        {"at": GOOD["at"], "type": "reported", "ticket": "T2"},
        "not an object",
    ]
    response = api.post("/api/v1/events", json=body)
    assert response.status_code == 400
    _check_documented("/api/v1/events", "post", response)
    errors = response.json()["errors"]
    assert [e["index"] for e in errors] == [2, 3, 4, 5]
    assert "`at`" in errors[0]["message"] and "UTC offset" in errors[0]["message"]
    assert "event type 'exploded'" in errors[1]["message"]
    assert "`circuit`" in errors[2]["message"]
    assert "JSON object" in errors[3]["message"]
    assert api.backend.stored == []


def test_a_single_bad_object_is_index_0(serve):
    api = serve()
    response = api.post("/api/v1/events", json={**GOOD, "source": "psychic"})
    assert response.status_code == 400
    assert response.json() == {"errors": [{"index": 0, "message": response.json()["errors"][0]["message"]}]}
    assert "`source`" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"[1,", b"\xff\xfe\x00", b"[" * 100_000], ids=["empty", "open", "cut", "bytes", "deep"]
)
def test_a_body_that_is_not_json_is_400(serve, raw):
    api = serve()
    response = api.post("/api/v1/events", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["errors"][0]["message"]
    _check_documented("/api/v1/events", "post", response)
    assert api.backend.stored == []


def test_an_oversize_body_is_413(serve):
    api = serve(max_body=1024)
    events = [{**GOOD, "ticket": f"T{n}"} for n in range(40)]  # well over 1 KiB
    declared = api.post("/api/v1/events", json=events)
    assert declared.status_code == 413
    _check_documented("/api/v1/events", "post", declared)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked, so only counting can catch it
        yield b"["
        for n, event in enumerate(events):
            yield (b"," if n else b"") + httpx.Response(200, json=event).content
        yield b"]"

    chunked = api.post("/api/v1/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert api.backend.stored == []

    assert api.post("/api/v1/events", json=events[:3]).status_code == 201  # under the limit


def test_oversize_without_token_is_401_not_413(serve):
    api = serve(max_body=16)
    assert api.post("/api/v1/events", token=None, json=[GOOD] * 10).status_code == 401


def test_a_backend_failure_is_a_json_500(serve):
    class Broken(Backend):
        def ingest(self, events: list[Event]) -> IngestResult:
            raise RuntimeError("database is locked")

    api = serve(Broken())
    response = api.post("/api/v1/events", json=GOOD)
    assert response.status_code == 500
    assert "database" not in response.text  # nothing internal leaks to the client
    _check_documented("/api/v1/events", "post", response)


# --- probes and reload ------------------------------------------------------------------------------------------


def test_ready_reflects_the_backend(serve):
    api = serve()
    assert api.get("/-/healthy").status_code == 200
    assert api.get("/-/ready").status_code == 200
    api.backend.is_ready = False
    assert api.get("/-/ready").status_code == 503
    assert api.get("/-/healthy").status_code == 200


def test_reload_failure_is_500_listing_the_errors(serve):
    api = serve()
    ok = api.post("/-/reload")
    assert (ok.status_code, ok.json()) == (200, {"ok": True, "errors": []})
    api.backend.reload_errors = ["rules/aaa.yaml:3: restore: expected a duration", "monitord.yaml:9: no such file"]
    failed = api.post("/-/reload")
    assert failed.status_code == 500
    assert failed.json() == {"ok": False, "errors": api.backend.reload_errors}
    _check_documented("/-/reload", "post", failed)


def test_metrics_are_prometheus_text(serve):
    api = serve()
    api.post("/api/v1/events", json=[GOOD, GOOD2])
    response = api.get("/metrics")
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    assert "monitord_events_stored 2.0" in response.text


def test_unknown_paths_and_methods_answer_json(serve):
    api = serve()
    missing = api.get("/api/v1/nothing")
    assert missing.status_code == 404 and missing.json()["errors"]
    wrong_method = api.get("/api/v1/events")
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["allow"]


# --- silences ----------------------------------------------------------------------------------------------


def test_a_silence_is_created_listed_and_expired(serve):
    api = serve()
    created = api.post("/api/v1/silences", json=SILENCE)
    assert created.status_code == 201
    _check_documented("/api/v1/silences", "post", created)
    body = created.json()
    # No startsAt: it starts now (10:00), so it is active; the matchers come back in canonical form.
    assert body == {"id": "s1", "matchers": ['alertname="CircuitDown"', 'circuit=~"GZ-.*"'],
                    "startsAt": "2025-03-01T10:00:00+08:00", "endsAt": "2025-03-01T12:00:00+08:00",
                    "createdBy": "wang.wei", "comment": "fibre cutover CR-1024",
                    "updatedAt": "2025-03-01T10:00:00+08:00", "status": {"state": "active"}}
    later = api.post("/api/v1/silences", json={**SILENCE, "startsAt": "2025-03-01T11:00:00+08:00",
                                               "matchers": ["circuit = GZ-SDH-1"]})
    assert later.json()["status"] == {"state": "pending"} and later.json()["matchers"] == ['circuit="GZ-SDH-1"']
    listed = api.get("/api/v1/silences")
    _check_documented("/api/v1/silences", "get", listed)
    assert [s["id"] for s in listed.json()["silences"]] == ["s1", "s2"]

    expired = api.http.delete("/api/v1/silences/s1", headers={"Authorization": f"Bearer {TOKEN}"})
    assert expired.status_code == 200
    _check_documented("/api/v1/silences/{id}", "delete", expired)
    assert expired.json()["endsAt"] == "2025-03-01T10:00:00+08:00" and expired.json()["status"]["state"] == "expired"
    again = api.http.delete("/api/v1/silences/s1", headers={"Authorization": f"Bearer {TOKEN}"})
    assert again.json() == expired.json()  # expiring twice changes nothing
    missing = api.http.delete("/api/v1/silences/nope", headers={"Authorization": f"Bearer {TOKEN}"})
    assert missing.status_code == 404 and "nope" in missing.json()["errors"][0]["message"]
    _check_documented("/api/v1/silences/{id}", "delete", missing)


def test_silence_writes_need_the_token(serve):
    api = serve()
    assert api.post("/api/v1/silences", token=None, json=SILENCE).status_code == 401
    assert api.http.delete("/api/v1/silences/s1").status_code == 401
    assert api.post("/api/v1/silences", token="wrong", json=SILENCE).status_code == 401
    assert api.backend.silence_list == []
    refused = serve(token_file=None).post("/api/v1/silences", token="anything", json=SILENCE)
    assert refused.status_code == 403


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"matchers": ['circuit=~"GZ-(.*"']}, "matchers[0]", "bad regular expression"),
    ({"matchers": ["circuit GZ-1"]}, "matchers[0]", "expected a matcher"),
    ({"matchers": ['circuit="GZ-1"', 7]}, "matchers[1]", "expected a string"),
    ({"matchers": []}, "matchers", "non-empty list"),
    ({"matchers": 'circuit="GZ-1"'}, "matchers", "non-empty list"),
    ({"matchers": ['team!="noc"']}, "matchers", "must not match an empty value"),
    ({"startsAt": "2025-03-01T13:00:00+08:00"}, "endsAt", "after `startsAt`"),
    ({"startsAt": "2025-03-01T12:00:00+08:00"}, "endsAt", "after `startsAt`"),
    ({"endsAt": "2025-03-01T12:00:00"}, "endsAt", "no UTC offset"),
    ({"endsAt": None}, "endsAt", "ISO 8601"),
    ({"startsAt": "soon"}, "startsAt", "not an ISO 8601 time"),
    ({"endsAt": "2025-03-01T09:00:00+08:00"}, "endsAt", "already passed"),
    ({"createdBy": " "}, "createdBy", "non-empty string"),
    ({"comment": None}, "comment", "non-empty string"),
    ({"id": "mine"}, "id", "not a field of a silence"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_bad_silence_is_400_naming_the_field(serve, change, field, words):
    api = serve()
    body = {k: v for k, v in {**SILENCE, **change}.items() if v is not None}
    response = api.post("/api/v1/silences", json=body)
    assert response.status_code == 400
    _check_documented("/api/v1/silences", "post", response)
    errors = response.json()["errors"]
    assert [e.get("field") for e in errors] == [field], errors
    assert words in errors[0]["message"] and f"`{field}`" in errors[0]["message"]
    assert api.backend.silence_list == []


def test_every_silence_problem_is_reported_at_once(serve):
    api = serve()
    response = api.post("/api/v1/silences", json={"matchers": ["x"], "endsAt": "later"})
    assert sorted(e["field"] for e in response.json()["errors"]) == ["comment", "createdBy", "endsAt", "matchers[0]"]
    assert api.post("/api/v1/silences", json=["not", "an", "object"]).status_code == 400
    assert "not valid JSON" in api.post("/api/v1/silences", content=b"{",
                                        headers={"Content-Type": "application/json"}).json()["errors"][0]["message"]


# --- the OpenAPI document ---------------------------------------------------------------------------------------


def _served_operations(app: Starlette) -> set[tuple[str, str]]:
    ops = set()
    for route in app.routes:
        assert isinstance(route, Route)
        ops |= {(route.path, m.lower()) for m in route.methods or () if m != "HEAD"}
    return ops


def _documented_operations() -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(p, m) for p, item in openapi_document()["paths"].items() for m in item if m in methods}


def test_every_served_route_is_documented_and_vice_versa(serve):
    api = serve()
    assert _served_operations(api.app) == _documented_operations()


def test_every_documented_operation_answers_as_documented(serve):
    api = serve()
    api.post("/api/v1/events", json=GOOD)
    sid = api.post("/api/v1/silences", json=SILENCE).json()["id"]
    bodies: dict[tuple[str, str], Any] = {("/api/v1/events", "post"): [GOOD2], ("/api/v1/silences", "post"): SILENCE}
    params = {"/api/v1/reports/monthly": {"month": "2025-03"}}
    for path, method in sorted(_documented_operations()):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        body = bodies.get((path, method))
        url = path.replace("{id}", sid).replace("{ticket}", GOOD["ticket"])
        response = api.http.request(method.upper(), url, headers=headers, json=body, params=params.get(path))
        assert response.status_code < 300, (path, method, response.status_code)
        _check_documented(path, method, response)


def test_served_openapi_document_is_the_package_one(serve):
    api = serve()
    served = api.get("/api/v1/openapi.json").json()
    assert served == openapi_document()
    assert served["openapi"].startswith("3.1")
    assert served["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": served["components"]["securitySchemes"]["bearerAuth"]["description"],
    }


def test_document_schemas_are_valid_json_schema():
    for schema in openapi_document()["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_documented_event_enums_match_the_domain():
    event = openapi_document()["components"]["schemas"]["Event"]["properties"]
    assert set(event["type"]["enum"]) == {t.value for t in TicketEventType} | {t.value for t in ObservationType}
    assert set(event["source"]["enum"]) == {s.value for s in TicketSource}


def test_every_write_is_documented_with_bearer_security():
    doc = openapi_document()
    for path, method in _documented_operations():
        operation = doc["paths"][path][method]
        if method in ("post", "delete"):
            assert operation["security"] == [{"bearerAuth": []}], path
            assert "401" in operation["responses"], path


def test_documented_examples_are_valid_events():
    from monitord.sources.events import parse_event

    examples = openapi_document()["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    for example in examples["examples"].values():
        value = example["value"]
        for obj in value if isinstance(value, list) else [value]:
            assert isinstance(parse_event(obj), TicketEvent)


def test_reports_pass_their_parameters_and_name_the_bad_ones(serve):
    api = serve()
    api.post("/api/v1/events", json=GOOD)
    got = api.get("/api/v1/reports/monthly", params={"month": "2025-03", "customer": ["A", "B"]})
    assert got.status_code == 200 and got.json() == {"customers": [{"customer": "A"}, {"customer": "B"}]}
    csv = api.get("/api/v1/reports/monthly", params={"month": "2025-03", "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("month,")
    bad = api.get("/api/v1/reports/monthly", params={"format": "pdf", "lang": "fr"})
    assert bad.status_code == 400
    assert sorted(e["field"] for e in bad.json()["errors"]) == ["format", "lang", "month"]
    early = api.get("/api/v1/reports/monthly", params={"month": "2030-01"})
    assert early.status_code == 400 and early.json()["errors"][0]["field"] == "month"
    assert api.get(f"/api/v1/reports/fault/{GOOD['ticket']}").json() == {"ticket": GOOD["ticket"]}
    assert api.get("/api/v1/reports/fault/NO-SUCH").status_code == 404
