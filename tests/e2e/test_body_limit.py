"""The body limit holds for chunked bodies too, whatever the key (issue 19, item 3).

A chunked request has no Content-Length, so only counting what is read can stop it. The test
drives the ASGI app with a body of 64 chunks of 64 KiB against a limit of 256 KiB and counts
how much the app pulled: before the limit counted bytes, it read all 4 MiB (with or without a
valid key), so memory grew with whatever a client chose to send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from hub.app import create_app
from hub.bootstrap import Hub
from hub.store import access
from hub.store.uow import admin_session
from tests.conftest import make_hub

LIMIT = 256 * 1024
CHUNK = 64 * 1024
CHUNKS = 64


@pytest.fixture
def small_hub(sqlite_url: str) -> Iterator[Hub]:
    hub = make_hub(sqlite_url, max_body_bytes=LIMIT)
    yield hub
    hub.close()


def _post(hub: Hub, headers: list[tuple[bytes, bytes]]) -> tuple[int, int, bytes]:
    """POST a body of CHUNKS chunks; (status, bytes the app pulled, response body)."""
    app = create_app(hub, run_worker=False)
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= CHUNK * CHUNKS:
            await asyncio.sleep(3600)  # a client that keeps the connection open, silent
        pulled += CHUNK
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": pulled < CHUNK * CHUNKS}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/changes",
        "raw_path": b"/api/v1/changes",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def run() -> None:
        await asyncio.wait_for(app(scope, receive, send), 20)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], pulled, body


@pytest.mark.parametrize("key", ["valid", "wrong", "none"])
def test_a_chunked_body_over_the_limit_is_refused_after_reading_at_most_the_limit(
    small_hub: Hub, key: str
) -> None:
    headers: list[tuple[bytes, bytes]] = [(b"transfer-encoding", b"chunked")]
    if key != "none":
        with admin_session(small_hub.engine) as s:
            real = access.add_source(s, "crm", ["client"], None, None, {"client"})
        token = real if key == "valid" else "cnc_wrong"
        headers.append((b"authorization", f"Bearer {token}".encode()))
    status, pulled, body = _post(small_hub, headers)
    assert pulled <= LIMIT + CHUNK, f"read {pulled} bytes of a body over a {LIMIT}-byte limit"
    assert status == 413, body
    assert str(LIMIT).encode() in body


def test_a_declared_length_over_the_limit_is_refused_before_reading(small_hub: Hub) -> None:
    status, pulled, _ = _post(small_hub, [(b"content-length", str(CHUNK * CHUNKS).encode())])
    assert status == 413
    assert pulled == 0
