"""The steward browser fixtures (a served hub, a Chromium page) for every browser test module."""

from tests.e2e.test_steward_browser import chromium, page, served

__all__ = ["chromium", "page", "served"]
