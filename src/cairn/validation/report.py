"""A validation result as a standalone HTML page (no scripts, no external files)."""

from __future__ import annotations

import html
import json
from typing import Any

from cairn.core.checks import check_optional_text
from cairn.core.errors import InvalidInputError
from cairn.validation.validate import ValidationResult

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d1d1f}
h1{font-size:1.3rem}.ok{color:#137333}.bad{color:#b3261e}.warn{color:#8a5a00}
table{border-collapse:collapse;width:100%;margin-top:1rem}
th,td{border-bottom:1px solid #ddd;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f7}code{font-size:12px;white-space:pre-wrap}
"""


def to_html(result: ValidationResult, title: str | None = None) -> str:
    """The result as one HTML page: a summary line and a table of what failed."""
    if not isinstance(result, ValidationResult):
        raise InvalidInputError(
            f"to_html takes the ValidationResult of cairn.validate, got {type(result).__name__}"
        )
    check_optional_text(title, "title")
    state = "passed" if result.passed else "failed"
    heading = html.escape(title or f"Validation of {result.suite}")
    rows = []
    for f in result.failures:
        css = "bad" if f.severity == "error" else "warn"
        rows.append(
            "<tr>"
            f"<td class={css}>{html.escape(f.severity)}</td>"
            f"<td>{html.escape(f.expectation)}</td>"
            f"<td><code>{_shown(f.observed)}</code></td>"
            f"<td><code>{_shown(f.expected)}</code></td>"
            f"<td>{html.escape(', '.join(str(r) for r in f.rows)) or '-'}</td>"
            "</tr>"
        )
    table = (
        "<table><tr><th>severity</th><th>expectation</th><th>observed</th><th>expected</th>"
        "<th>rows (first)</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p class=ok>Every expectation held.</p>"
    )
    summary = (
        f"<p class={'ok' if result.passed else 'bad'}><b>{state}</b>: {result.rows:,} rows, "
        f"{result.checked} expectations, {len(result.errors)} error(s), "
        f"{len(result.warnings)} warning(s) in {result.seconds:.3f} s</p>"
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{heading}</title><style>{_STYLE}</style>"
        f"<h1>{heading}</h1>{summary}{table}</html>\n"
    )


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return html.escape(text)
