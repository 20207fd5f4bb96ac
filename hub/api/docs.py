"""``/docs`` and ``/redoc`` with their scripts and styles from the installed package.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank offline or behind
a firewall, where hubs often run. The files come from the ``fastapi-offline`` package's
Swagger UI and ReDoc builds (Apache-2.0 and MIT), served under ``/docs-static``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = "/docs-static"


def _assets() -> Path:
    return Path(str(resources.files("fastapi_offline") / "static"))


def install(app: FastAPI) -> None:
    """Serve the docs pages from local files; ``app`` was built with ``docs_url=None``.

    The pages are module functions that read the app from the request, not closures over it:
    FastAPI keeps every endpoint it has classified in a module-level cache of 4,096, so a
    closure kept its app, and with it the hub and its engine, alive after the app was gone
    (a test suite that builds hundreds of apps held them all)."""
    app.mount(STATIC, StaticFiles(directory=_assets()), name="docs-static")
    app.add_api_route("/docs", swagger, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)


def swagger(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} API",
        swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC}/favicon.png",
    )


def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} API",
        redoc_js_url=f"{STATIC}/redoc.standalone.js",
        redoc_favicon_url=f"{STATIC}/favicon.png",
        with_google_fonts=False,
    )
