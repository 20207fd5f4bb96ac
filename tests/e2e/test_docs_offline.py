"""``/docs`` and ``/redoc`` work offline: every script and style comes from the hub itself."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from hub.app import create_app
from hub.bootstrap import Hub
from tests.e2e.test_steward_browser import chromium, page, served  # noqa: F401  (fixtures)

REFERENCE = re.compile(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""")


def _references(html: str) -> list[str]:
    return REFERENCE.findall(html)


def test_docs_pages_name_no_other_host_and_their_files_are_served() -> None:
    client = TestClient(create_app(None, run_worker=False))
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        refs = _references(html)
        assert refs, html
        assert not re.search(r"https?://|[\"']//", html), html
        for ref in refs:
            assert ref.startswith("/"), f"{path} loads {ref} from elsewhere"
            assert client.get(ref).status_code == 200, ref


def test_swagger_ui_renders_the_api_with_every_other_host_unreachable(
    served: tuple[Hub, str],  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    """Chromium resolves no host but 127.0.0.1 (the ARGS of tests/e2e/test_steward_browser.py),
    so a file fetched from a CDN would leave the page blank."""
    from playwright.sync_api import expect

    _, url = served
    page.goto(f"{url}/docs")
    # Swagger UI's bundle is over a megabyte of script and the schema is built on first ask:
    # on a loaded CI machine that took longer than Playwright's 5 s default (a wait, not a
    # timing claim; a CDN reference never renders, however long we wait).
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Concord", timeout=30_000)
    expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=30_000)
