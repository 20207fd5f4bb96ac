"""The lean HTTP/1.1 client of plain-HTTP webhooks (connectors/outbound/http1.py) against raw
answers on 127.0.0.1: chunked and interim answers, a kept connection the receiver closed, a
huge body cut off, and a connection never reused after a bad answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from connectors.outbound.http1 import DRAIN_LIMIT, Http1Slot, ReceiverProtocolError
from hub.services.delivery_ports import RESPONSE_KEPT

Script = list[bytes]  # one raw answer per request, in order


async def _serve(script: Script, seen: list[bytes], conns: list[int]) -> asyncio.Server:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        conns.append(1)
        while script:
            try:
                head = await r.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            size = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            seen.append(head + await r.readexactly(size))
            answer = script.pop(0)
            w.write(answer)
            await w.drain()
            if b"connection: close" in answer.lower() or answer.startswith(b"HTTP/1.0"):
                break
        w.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _run(script: Script, body: Callable[[Http1Slot, str], Awaitable[None]]) -> tuple[list, list]:
    seen: list[bytes] = []
    conns: list[int] = []

    async def main() -> None:
        server = await _serve(script, seen, conns)
        port = server.sockets[0].getsockname()[1]
        slot = Http1Slot("concord/test")
        try:
            await body(slot, f"http://127.0.0.1:{port}/hook?x=1")
        finally:
            slot.close()
            server.close()

    asyncio.run(main())
    return seen, conns


def test_chunked_and_interim_answers_on_one_kept_connection() -> None:
    chunked = b"HTTP/1.1 500 Oops\r\ntransfer-encoding: chunked\r\n\r\n"
    chunked += b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
    script = [b"HTTP/1.1 100 Continue\r\n\r\n" + chunked, b"HTTP/1.1 204 No Content\r\n\r\n"]

    async def body(slot: Http1Slot, url: str) -> None:
        first = await slot.post(url, "hooks.example.com", {"webhook-id": "e1"}, b"{}")
        assert (first.status, first.text) == (500, "hello world")
        second = await slot.post(url, None, {"retry": "no"}, b"[1]")
        assert (second.status, second.text) == (204, "")

    seen, conns = _run(script, body)
    assert len(conns) == 1  # the same connection carried both
    assert seen[0].startswith(b"POST /hook?x=1 HTTP/1.1\r\nhost: hooks.example.com\r\n")
    assert b"webhook-id: e1\r\n" in seen[0] and seen[1].endswith(b"\r\n\r\n[1]")


def test_a_connection_the_receiver_closed_is_replaced() -> None:
    script = [
        b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
        b"HTTP/1.1 429 Slow\r\nretry-after: 30\r\ncontent-length: 0\r\n\r\n",
    ]

    async def body(slot: Http1Slot, url: str) -> None:
        assert (await slot.post(url, None, {}, b"{}")).text == "ok"
        second = await slot.post(url, None, {}, b"{}")
        assert second.status == 429 and second.headers["retry-after"] == "30"

    _, conns = _run(script, body)
    assert len(conns) == 2


def test_a_huge_body_is_cut_off_and_its_connection_dropped() -> None:
    big = b"x" * (DRAIN_LIMIT + 10)
    script = [
        b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(big) + big,
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    ]

    async def body(slot: Http1Slot, url: str) -> None:
        first = await slot.post(url, None, {}, b"{}")
        assert first.status == 200 and len(first.text) == RESPONSE_KEPT
        assert (await slot.post(url, None, {}, b"{}")).status == 200

    _, conns = _run(script, body)
    assert len(conns) == 2


def test_an_answer_that_is_not_http_fails_and_is_not_reused() -> None:
    script = [b"SMTP ready\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]

    async def body(slot: Http1Slot, url: str) -> None:
        with pytest.raises(ReceiverProtocolError):
            await slot.post(url, None, {}, b"{}")
        assert (await slot.post(url, None, {}, b"{}")).status == 200

    _, conns = _run(script, body)
    assert len(conns) == 2
