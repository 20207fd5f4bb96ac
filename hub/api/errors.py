"""One mapping from domain errors to HTTP responses, instead of a try block in every route."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hub.domain.errors import (
    BatchTooLarge,
    ConcordError,
    Conflict,
    Forbidden,
    InvalidBatch,
    RecordNotFound,
    Unauthorized,
)


def install(app: FastAPI) -> None:
    @app.exception_handler(InvalidBatch)
    async def _invalid(_: Request, exc: InvalidBatch) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={"detail": str(exc), "errors": [p.as_dict() for p in exc.problems]},
        )

    @app.exception_handler(BatchTooLarge)
    async def _too_large(_: Request, exc: BatchTooLarge) -> JSONResponse:
        return JSONResponse(status_code=413, content={"detail": str(exc)})

    @app.exception_handler(RecordNotFound)
    async def _not_found(_: Request, exc: RecordNotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return JSONResponse(
            status_code=401, content={"detail": str(exc)}, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse(status_code=403, content={"detail": str(exc)})

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    @app.exception_handler(ConcordError)
    async def _other(_: Request, exc: ConcordError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})
