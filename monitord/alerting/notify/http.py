"""One JSON POST over HTTP, its failure classified: what the webhook and Alertmanager notifiers share.

Retryable: connection errors, timeouts, 5xx, 429 (too many requests) and 408
(request timeout). Not retryable: any other status outside 2xx (a 400 says
the body is wrong, a 401/403/404 that the configuration is), and redirects,
which a notifier does not follow (a moved endpoint is for the operator to fix).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

import httpx

from monitord import __version__
from monitord.alerting.notify.base import NotifyError

USER_AGENT = f"monitord/{__version__}"

RETRYABLE_STATUS = frozenset({408, 429})
"""Statuses below 500 that say "later", not "never"."""


def retryable_status(status: int) -> bool:
    """Whether a response with ``status`` may succeed if the same request is sent again."""
    return status >= 500 or status in RETRYABLE_STATUS


_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}


def _client() -> httpx.AsyncClient:
    """The running loop's client: one pool of kept-alive connections for every notifier.

    Building a client costs tens of milliseconds of CPU (its TLS context above
    all), which capped sending at a few dozen notices a second when each POST
    made its own.
    """
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        for stale in [k for k in _clients if k.is_closed()]:
            del _clients[stale]
        client = _clients[loop] = httpx.AsyncClient(follow_redirects=False,
                                                    limits=httpx.Limits(max_connections=64))
    return client


async def post(url: str, body: bytes, headers: Mapping[str, str], timeout: timedelta) -> httpx.Response:
    """POST ``body`` to ``url``; the 2xx response, or ``NotifyError`` saying whether to try again."""
    all_headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, **headers}
    try:
        response = await _client().post(url, content=body, headers=all_headers, timeout=timeout.total_seconds())
    except httpx.TimeoutException as exc:
        raise NotifyError(f"POST {url}: timed out ({type(exc).__name__})", retryable=True) from exc
    except httpx.TransportError as exc:
        raise NotifyError(f"POST {url}: {type(exc).__name__}: {exc}", retryable=True) from exc
    if response.is_success:
        return response
    text = response.text[:200].strip()
    raise NotifyError(f"POST {url}: HTTP {response.status_code}{': ' + text if text else ''}",
                      retryable=retryable_status(response.status_code))


async def close() -> None:
    """Close the running loop's client (at shutdown)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
