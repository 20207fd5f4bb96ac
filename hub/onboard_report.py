"""The onboarding run report: one JSON document, and the same drawn as a self-contained page.

The HTML has no script and loads nothing (no CDN): an integration lead opens it from a mail or
a ticket. Every value from the file is escaped, since an acquired firm's export is not trusted
input (a client called ``<script>`` must show as text).
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from hub.domain.onboarding import Validation
from hub.services.onboarding_preview import BINS, Preview

MAX_ERRORS = 1_000
"""Errors kept in the report; the count says how many there were in all."""

NOTES = (
    "Rows were matched without writing anything. A row that would only fuzzy-match an earlier "
    "row of the same file counts as new here (at commit it may go to review); deterministic "
    "duplicates within the file are linked.",
    "Survivorship changes are previewed one row at a time against each golden record as it "
    "is now; 'changed' replaces a value, 'filled' gives a value to a blank field.",
)


def build_report(
    meta: dict[str, Any],
    validation: Validation,
    preview: Preview | None,
    ignored_columns: list[str],
    earlier: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON report of a run, from what validation and the preview found; or, with
    ``earlier`` (the report of a dry run of the same file against the same store), from that
    dry run's preview."""
    invalid = len(validation.invalid_rows)
    counts = preview.counts() if preview else {"auto": 0, "review": 0, "new": 0}
    if earlier is not None:
        counts = {k: earlier["outcomes"][k] for k in ("auto", "review", "new")}
    errors = sorted(validation.errors, key=lambda e: (e.row, e.field))
    report: dict[str, Any] = {
        **meta,
        "generated_at": datetime.now(UTC).isoformat(),
        "rows": len(validation.valid) + invalid,
        "outcomes": {**counts, "invalid": invalid},
        "errors_total": len(errors),
        "errors": [{"row": e.row, "field": e.field, "problem": e.problem} for e in errors][
            :MAX_ERRORS
        ],
        "ignored_columns": ignored_columns,
        "notes": list(NOTES),
    }
    if preview is not None:
        scored = sum(preview.histogram)
        report["thresholds"] = {"t_auto": preview.t_auto, "t_review": preview.t_review}
        report["histogram"] = {
            "bins": [
                {"from": round(k / BINS, 2), "to": round((k + 1) / BINS, 2), "rows": n}
                for k, n in enumerate(preview.histogram)
            ],
            "scored_rows": scored,
            "not_scored": sum(counts.values()) - scored,
        }
        report["closest"] = preview.closest
        report["survivorship"] = dict(sorted(preview.survivorship.items()))
    elif earlier is not None:
        for part in ("thresholds", "histogram", "closest", "survivorship"):
            report[part] = earlier[part]
        report["preview_of"] = {"run_id": earlier["run_id"], "at": earlier["generated_at"]}
        report["notes"].append(
            f"The preview is dry run {earlier['run_id']}'s, made at {earlier['generated_at']}: "
            "same file, same settings, and no golden record, source record or steward "
            "decision changed since."
        )
    return report


def _svg_histogram(report: dict[str, Any]) -> str:
    bins = report.get("histogram", {}).get("bins", [])
    if not bins:
        return "<p>No row was scored against a golden record.</p>"
    width, height, pad = 640, 220, 30
    top = max(1, *(b["rows"] for b in bins))
    bar = (width - 2 * pad) / len(bins)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" '
        f'role="img" aria-label="histogram of best match probability per row">'
    ]
    for k, b in enumerate(bins):
        h = (height - pad) * b["rows"] / top
        x, y = pad + k * bar, height - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
            f'fill="#4a7ab5"><title>{b["from"]:.2f}-{b["to"]:.2f}: {b["rows"]} rows</title></rect>'
        )
        if b["rows"]:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" font-size="9" '
                f'text-anchor="middle">{b["rows"]}</text>'
            )
    for k in range(0, len(bins) + 1, 4):
        x = pad + k * bar
        parts.append(
            f'<text x="{x:.1f}" y="{height + 14}" font-size="10" '
            f'text-anchor="middle">{k / len(bins):.1f}</text>'
        )
    t = report.get("thresholds", {})
    for name, colour in (("t_review", "#d08a00"), ("t_auto", "#2a8a2a")):
        if t.get(name) is not None:
            x = pad + float(t[name]) * (width - 2 * pad)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="10" y2="{height}" stroke="{colour}" '
                f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="20" font-size="10" '
                f'fill="{colour}">{name}</text>'
            )
    parts.append(
        f'<text x="{width / 2:.0f}" y="{height + 32}" font-size="11" text-anchor="middle">'
        "best match probability per row</text></svg>"
    )
    return "".join(parts)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if c is None else str(c))}</td>" for c in r) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _scores_section(report: dict[str, Any]) -> list[str]:
    """The part of a dry run that scored rows: the histogram, the golden values that would
    change, and the closest calls with their weights per field."""
    e = escape
    h = report["histogram"]
    sections = [
        "<h2>Match probabilities</h2>",
        _svg_histogram(report),
        f"<p>{h['scored_rows']} rows scored against candidate golden records; "
        f"{h['not_scored']} linked by key or with no candidate.</p>",
        "<h2>Survivorship: existing golden values that would change</h2>",
        _table(
            ["field", "changed", "filled (was blank)"],
            [[f, c["changed"], c["filled"]] for f, c in report["survivorship"].items()],
        )
        if report["survivorship"]
        else "<p>No existing golden value would change.</p>",
        f"<h2>The {len(report['closest'])} closest calls</h2>",
    ]
    for c in report["closest"]:
        sections.append(
            f"<h3>row {e(str(c['row']))} · key {e(str(c['key']))} · "
            f"p = {c['probability']:.4f} · {e(str(c['outcome']))} · golden "
            f"{e(str(c['golden_id'] or '-'))}</h3>"
            + _table(
                ["field", "row", "golden record", "weight"],
                [[f, v["row"], v["golden"], v["weight"]] for f, v in c["fields"].items()],
            )
        )
    return sections


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML page with an inline SVG chart; every value escaped."""
    e = escape
    o = report["outcomes"]
    sections = [
        f"<h1>Onboarding run {e(str(report['run_id']))}</h1>",
        f"<p>{e(str(report['source']))} · {e(str(report['domain']))} · "
        f"file {e(str(report['file']))} · {e(str(report['mode']))} · "
        f"{e(str(report['generated_at']))}</p>",
        "<h2>Rows by outcome</h2>",
        _table(
            ["rows", "auto-linked", "review", "new", "invalid"],
            [[report["rows"], o["auto"], o["review"], o["new"], o["invalid"]]],
        ),
    ]
    if "histogram" in report:
        sections += _scores_section(report)
    if report["errors"]:
        sections += [
            f"<h2>Rows with errors ({report['errors_total']})</h2>",
            _table(
                ["row", "field", "problem"],
                [[x["row"], x["field"], x["problem"]] for x in report["errors"]],
            ),
        ]
    if report["ignored_columns"]:
        sections.append(
            "<p>Columns ignored (not a field; map with --map CANON=COL): "
            + e(", ".join(report["ignored_columns"]))
            + "</p>"
        )
    sections.append(
        "<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report["notes"]) + "</ul>"
    )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Onboarding run {e(str(report['run_id']))}</title><style>{style}</style>"
        f"</head><body>{''.join(sections)}</body></html>"
    )
