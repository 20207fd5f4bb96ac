"""Running the app in a background thread: for the demo and the benchmarks, which post to
a real HTTP server from the same process."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class BackgroundServer:
    def __init__(self, app: FastAPI, port: int, host: str = "127.0.0.1") -> None:
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server at {self.url} did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *args: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
