"""What ``concord demo`` prints: what it stored, the counts, the steward login and what to do
next, the same with and without ``--serve`` (the README promises both do the same).

A second run on the same database stores nothing new; it says so rather than counting the
changes the hub acknowledged as duplicates.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from hub.counts_view import count_lines

DEFAULT_URL = "http://127.0.0.1:8000"


def stored_line(accepted: int, duplicates: int, systems: int) -> str:
    if accepted == 0:
        return (
            f"nothing new stored: all {duplicates} changes from {systems} systems were in this "
            "database already (the demo ran on it before)"
        )
    again = f", {duplicates} already stored" if duplicates else ""
    return f"stored {accepted} new changes from {systems} systems over HTTP{again}"


def print_loaded(
    console: Console, line: str, counts: dict[str, Any], domains: list[str], login: tuple[str, str]
) -> None:
    console.print(line, highlight=False)
    for text in count_lines(counts, domains):
        console.print(text, highlight=False)
    steward, password = login
    pending = counts["pending_candidates"]
    console.print(
        f"\n{pending} match candidates wait for a steward. Steward page login: "
        f"{steward}, password {password} (new on every run)",
        highlight=False,
    )


def print_next_steps(console: Console) -> None:
    """After ``--no-serve``: how to see what was loaded."""
    console.print("\nNext:", highlight=False)
    for command, what in (
        ("concord serve --port 8000", f"then open {DEFAULT_URL}/steward/ and log in as above"),
        ("concord status", "these counts again"),
        ("concord demo", "the same, then keeps serving with API keys to try the README with"),
    ):
        console.print(f"  {command:<28} {what}", highlight=False)


def print_serving(console: Console, url: str, keys: dict[str, str]) -> None:
    """While serving: the pages, and the keys the README's examples take from the shell."""
    console.print(f"\nConcord is serving the demo at {url}", highlight=False)
    console.print(f"  steward page    {url}/steward/  (log in as above)", highlight=False)
    console.print(f"  API docs        {url}/docs", highlight=False)
    console.print(f"  health          {url}/healthz", highlight=False)
    console.print(
        '\nThe API takes a key in the header "Authorization: Bearer KEY". Paste these to try '
        "the README's examples:",
        highlight=False,
    )
    console.print(f"export READ_KEY={keys['_reader']}   # read-only (subscriber)", highlight=False)
    console.print(f"export CRM_KEY={keys['crm']}   # source crm: sending changes", highlight=False)
    console.print(f"export TIME_KEY={keys['time']}   # source time: time entries", highlight=False)
    for path in ("/api/v1/feed?limit=20", "/api/v1/golden/client?q=group"):
        console.print(f"curl -H \"Authorization: Bearer $READ_KEY\" '{url}{path}'", highlight=False)
    console.print("Press Ctrl+C to stop.", highlight=False)


def print_deals(
    console: Console, shells: list[dict[str, Any]], waiting: list[dict[str, Any]]
) -> None:
    """The opportunity-to-project story: the shells made, and the deals waiting for finance."""
    console.print("\nOpportunity to project (GET /api/v1/project-setup/shells, /exceptions):")
    for shell in shells:
        joined = (
            "; PSA's project PP-9001 carries its code and joined it"
            if shell["linked_at"]
            else "; no PSA or ERP project has joined it yet"
        )
        console.print(
            f"  contracted deal -> project shell {shell['code']} ({shell['status']}), "
            f"published as a golden project{joined}",
            highlight=False,
        )
    for exc in waiting:
        for problem in exc["problems"]:
            console.print(
                f"  a contracted deal waits as a setup exception: {problem['message']} "
                f"({problem['record']}); fix: {problem['fix']}",
                highlight=False,
            )
