"""A lean HTTP/1.1 client for plain-HTTP webhook receivers: one kept-alive connection per slot.

Why not httpx here: on asyncio, httpx goes through anyio and httpcore's pool bookkeeping, and
measured on the project's 2-core machine it sent about 700 requests a second from one event
loop where a request written straight onto an asyncio stream sent about 2,900 (the receiver
the same). Delivery is CPU-bound in a process that also serves the API and applies changes,
so plain ``http://`` receivers get this client; ``https://`` ones get httpx (TLS, HTTP/2).

It speaks the part of HTTP/1.1 a webhook needs: one POST with a body of known length, an
answer with a status line, headers (interim 1xx answers skipped) and a body by
``content-length``, ``chunked`` or to the end of the connection. Only the start of the body
is kept (``RESPONSE_KEPT``); a body longer than ``DRAIN_LIMIT`` is not read to its end, and its
connection is closed instead of reused. Any error, and the caller's deadline, close the
connection: a connection in an unknown state is never reused.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from hub.services.delivery_ports import RESPONSE_KEPT

HEAD_LIMIT = 65_536  # bytes of status line and headers
DRAIN_LIMIT = 65_536  # a longer body is cut off, and its connection closed


class ReceiverProtocolError(Exception):
    """The receiver answered something that is not HTTP/1.x."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    text: str  # the start of the body


class Http1Slot:
    """One connection to one receiver, kept alive between requests."""

    def __init__(self, user_agent: str) -> None:
        self.user_agent = user_agent
        self._origin: tuple[str, int] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(
        self, url: str, host: str | None, headers: dict[str, str], body: bytes
    ) -> Answer:
        """POST ``body`` to ``url`` (an ``http://`` URL, its host an address already), with
        ``host`` as the Host header (default: the URL's own)."""
        parts = urlsplit(url)
        origin = (parts.hostname or "", parts.port or 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {target} HTTP/1.1", f"host: {host or parts.netloc.rpartition('@')[2]}"]
        if parts.username is not None:  # credentials in the URL, as httpx would send them
            creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            lines.append(f"authorization: Basic {base64.b64encode(creds).decode()}")
        lines += [f"user-agent: {self.user_agent}", "content-type: application/json"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k not in ("host", "content-type")]
        lines.append(f"content-length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        reused = self._origin == origin and self._writer is not None
        done = False
        try:
            try:
                answer = await self._exchange(origin, request)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                answered = isinstance(exc, asyncio.IncompleteReadError) and bool(exc.partial)
                if not reused or answered:
                    raise
                self.close()  # the receiver had closed the kept connection: once on a new one
                answer = await self._exchange(origin, request)
            done = True
            return answer
        finally:
            if not done:
                self.close()

    def close(self) -> None:
        writer, self._writer, self._reader, self._origin = self._writer, None, None, None
        if writer is not None:
            writer.close()

    async def _exchange(self, origin: tuple[str, int], request: bytes) -> Answer:
        if self._writer is None or self._origin != origin:
            self.close()
            self._reader, self._writer = await asyncio.open_connection(
                origin[0], origin[1], limit=HEAD_LIMIT
            )
            self._origin = origin
        assert self._reader is not None and self._writer is not None
        self._writer.write(request)
        await self._writer.drain()
        status, version, headers = await _head(self._reader)
        text, reusable = await _body(self._reader, status, headers)
        closing = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        if closing or not reusable:
            self.close()
        return Answer(status, headers, text)


async def _head(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
    """The final answer's status, HTTP version and headers (interim 1xx answers skipped)."""
    while True:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ReceiverProtocolError(f"not an HTTP/1.x status line: {lines[0][:100]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                key = name.strip().lower()
                headers[key] = (
                    f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
                )
        if not 100 <= int(code) < 200:
            return int(code), version, headers


async def _body(
    reader: asyncio.StreamReader, status: int, headers: dict[str, str]
) -> tuple[str, bool]:
    """The start of the body, and whether the connection can carry another request."""
    if status in (204, 304):
        return "", True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        data, whole = await _chunks(reader)
    elif "content-length" in headers:
        try:
            size = int(headers["content-length"])
        except ValueError:
            raise ReceiverProtocolError("content-length is not a number") from None
        whole = size <= DRAIN_LIMIT
        data = await reader.readexactly(size if whole else min(size, RESPONSE_KEPT))
    else:  # the body runs to the end of the connection
        data, whole = await reader.read(DRAIN_LIMIT), False
    return data[:RESPONSE_KEPT].decode("utf-8", "replace"), whole


async def _chunks(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    kept = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise ReceiverProtocolError("a chunk size is not a hex number") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return kept, True
        if len(kept) + size > DRAIN_LIMIT:
            return kept + await reader.read(RESPONSE_KEPT), False
        kept += await reader.readexactly(size)
        await reader.readexactly(2)
