"""What the Documents tab says: the index in numbers with its documents and contents, and
the summary of a re-index (added, changed, removed, failed, with reasons)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from search.records import IndexReport
from search.web.render import plural, readable_time


def panel_html(stats: Any, docs: list[Any], contents: str = "") -> str:
    """The index panel: counts, model, when it was last updated, its size, each document,
    then the contents list."""
    size = (f" · {stats.size_bytes / 1024:,.0f} KB on disk"
            if stats.size_bytes is not None else f" · held by {escape(stats.engine)}")
    rows = "".join(
        f"<tr><td>{escape(d.title)}</td><td>{d.page_count or '–'}</td><td>{d.chunks}</td>"
        f"<td><code>{escape(d.doc_id)}</code></td></tr>" for d in docs)
    return (
        '<div class="index-panel">'
        f"<p><b>{stats.documents}</b> {plural(stats.documents, 'document')} · "
        f"<b>{stats.chunks}</b> {plural(stats.chunks, 'passage')} · "
        f"model <code>{escape(stats.model)}</code> · last updated "
        f"{escape(_when(stats.built_at))}"
        f"{size}</p>"
        "<table><tr><th>Document</th><th>Pages</th><th>Passages</th><th>Id</th></tr>"
        f"{rows}</table>{contents}</div>")


def summary_markdown(report: IndexReport, rescan: bool) -> str:
    def names(items: list[str]) -> str:
        return ", ".join(f"`{_md(Path(i).name)}`" for i in items[:20]) + \
            (f" and {len(items) - 20} more" if len(items) > 20 else "")

    lines = [f"**Done in {report.seconds:.1f} s** — {report.chunks_embedded} "
             f"{plural(report.chunks_embedded, 'passage')} embedded."]
    for label, items in (("Added", report.added), ("Changed", report.changed),
                         ("Removed", report.removed)):
        if items:
            lines.append(f"- {label} ({len(items)}): {names(items)}")
    if rescan:
        lines.append(f"- Unchanged: {len(report.unchanged)}")
    elif report.unchanged:  # an upload identical to an indexed file: say so, not nothing
        lines.append(f"- Unchanged ({len(report.unchanged)}): {names(report.unchanged)} "
                     "(already indexed with the same content)")
    if report.notes:
        lines.append(f"- Indexed, with notes ({len(report.notes)}):")
        lines += [f"    - `{_md(Path(p).name)}`: {_md(note)}" for p, note in report.notes]
    if report.failed:
        lines.append(f"- Failed ({len(report.failed)}):")
        lines += [f"    - `{_md(Path(p).name)}`: {_md(reason)}" for p, reason in report.failed]
    return "\n".join(lines)


def _when(stamp: str | None) -> str:
    """An ISO time as people read it: "30 Nov 2026, 14:45 UTC"."""
    if not stamp:
        return "unknown"
    try:
        return readable_time(datetime.fromisoformat(stamp))
    except ValueError:
        return stamp


def _md(text: str) -> str:
    """File names and reasons in Markdown: no markup, no HTML."""
    return escape(text).replace("`", "'").replace("*", "\\*").replace("_", "\\_").replace(
        "[", "\\[")
