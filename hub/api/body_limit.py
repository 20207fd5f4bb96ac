"""The request body limit, as bytes are read (issue 19, item 3).

A Content-Length header can be checked before anything is read, but a chunked body has none,
and FastAPI reads a route's whole body before it checks the caller's key: counting in an
``http`` middleware or a route comes too late. This ASGI middleware counts the bytes of every
``http.request`` message the app pulls and, past the limit, stops the app and answers 413
itself, so no more than the limit (plus the chunk that crossed it) is ever held, whatever
the key.
"""

from __future__ import annotations

import contextlib

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _OverLimit(Exception):
    """Raised inside the app's receive once the body crossed the limit."""


def _too_large(limit: int, size: str | None) -> list[Message]:
    what = f"body of {size} bytes" if size else "body"
    detail = orjson.dumps({"detail": f"{what} is over the limit of {limit} bytes"})
    return [
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(detail)).encode()),
                (b"connection", b"close"),
            ],
        },
        {"type": "http.response.body", "body": detail},
    ]


class BodyLimit:
    """413 for any body over ``settings.max_body_bytes``, declared or streamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = scope["app"].state.hub if scope["type"] == "http" else None
        if hub is None:
            await self.app(scope, receive, send)
            return
        limit: int = hub.settings.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
        if declared.strip().isdigit() and int(declared) > limit:
            for message in _too_large(limit, declared.strip()):
                await send(message)
            return
        read = 0
        over = False
        started = False

        async def counted() -> Message:
            nonlocal read, over
            if over:  # the app asks again after we refused: end its request
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    over = True
                    raise _OverLimit()
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if over:  # the app's answer to a body it never got whole (its parse error)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_OverLimit):
            await self.app(scope, counted, watched)
        if over and not started:
            for message in _too_large(limit, None):
                await send(message)
