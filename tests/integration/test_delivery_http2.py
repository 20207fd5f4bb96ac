"""A TLS receiver that speaks only HTTP/2 (ALPN ``h2``) gets its webhooks over HTTP/2, signed,
one record's versions in order (issue 14, must-have 3: HTTP/2 where the receiver speaks it)."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from standardwebhooks import Webhook

from tests.conftest import Api, ChangeFactory
from tests.integration.test_webhooks import post, run_until, worker_for


class H2Receiver(asyncio.Protocol):
    """One HTTP/2 connection of the receiver: answers every stream 204, notes what came."""

    def __init__(self, seen: list[dict[str, Any]]) -> None:
        self.seen = seen
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.conn.initiate_connection()
        transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                headers = {_text(k): _text(v) for k, v in event.headers}
                self.streams[event.stream_id] = (headers, bytearray())
            elif isinstance(event, h2.events.DataReceived):
                self.streams[event.stream_id][1].extend(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                headers, body = self.streams.pop(event.stream_id)
                self.seen.append({"headers": headers, "body": bytes(body)})
                self.conn.send_headers(event.stream_id, [(":status", "204")], end_stream=True)
        self.transport.write(self.conn.data_to_send())


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.fixture
def h2_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    args = ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    args += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *args],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the hub's client trusts this receiver
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    seen: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: H2Receiver(seen), "127.0.0.1", 0, ssl=context)
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = server.sockets[0].getsockname()[1]
    yield f"https://127.0.0.1:{port}/hook", seen
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_a_receiver_speaking_only_http2_gets_signed_webhooks(
    api: Api, change: ChangeFactory, h2_receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = h2_receiver
    body = {"name": "h2", "kind": "webhook", "url": url, "domains": ["client"]}
    r = api.client.post("/api/v1/subscriptions", json=body, headers=api.auth("admin"))
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    post(api, change, "crm", "A-1", name="Acme")
    post(api, change, "crm", "A-1", name="Acme Ltd")
    run_until(worker_for(api), lambda: len(seen) == 2)
    for request in seen:
        assert request["headers"][":method"] == "POST"  # a pseudo-header: HTTP/2 framing
        Webhook(secret).verify(request["body"], request["headers"])
    assert [json.loads(r["body"])["data"]["version"] for r in seen] == [1, 2]
