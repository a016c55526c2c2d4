"""The web page: ask, read ranked cited passages, add documents. Gradio Blocks mounted on a
FastAPI app that also serves the source documents — corpus files only."""

from __future__ import annotations

import hmac
import ipaddress
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from search.config import SUPPORTED_SUFFIXES
from search.index import Index, QueryError
from search.packs import KeptPassage, PackError, PackStore
from search.records import Filters, IndexReport
from search.retrieve.confidence import results_weak
from search.retrieve.query import MODES
from search.web.contents import contents_html, document_sections
from search.web.document_routes import document_router
from search.web.pack_routes import PackGuard, pack_router
from search.web.render import readable_time, results_html, to_csv, to_markdown
from search.web.uploads import DEFAULT_MAX_BYTES, save_upload

EXAMPLE_COUNT = 5
SAMPLED_PASSAGES = 2000  # passages read (by id, from the first) to find headings for examples

HELP = (
    "**strong match**: the passage is closely about your question (check that it states "
    "what you need) · **possible match**: it may answer, read it · **weak match**: the "
    "closest passage, probably not an answer · **from OCR**: read from a scanned page, "
    "check the quote against the page. "
    "Marked sentences are the ones that answer. Click a citation to read the passage in its "
    "source; **Keep** adds it to your evidence pack (the Evidence pack tab exports it with "
    "citations). Modes: *hybrid* (default) weighs meaning and "
    "exact words per question; *semantic* matches meaning only; *lexical* exact words only. "
    "For a large archive index with the fast model (`--model fast`, the default); "
    "`--model quality` finds more answers to everyday-worded questions but indexes about "
    "6x slower.")

CSS = """
#results .hit {border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 12px 14px; margin: 10px 0; background: var(--background-fill-primary);}
#results .hit.weak {opacity: .85; border-style: dashed;}
#results .hit header {display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap;}
#results .rank {font-weight: 700; min-width: 1.5em;}
#results .citation {font-weight: 600; flex: 1;}
#results .score {font-size: .85em; color: #4a4a4a;}  /* 8.9:1 on white (WCAG AA: 4.5) */
#results .score.strong {color: #1b6e20; font-weight: 600;}
#results .score.possible {color: #7a5200;}
#results .ocr {font-size: .8em; margin-left: .5em; padding: 0 .4em; border-radius: 3px;
  background: #fff4d6; color: #5c3d00; border: 1px solid #c99a2e;}
#results .passage {white-space: pre-wrap; margin: 8px 0; line-height: 1.5;}
#results mark.answer {background: #fff3b0; color: inherit; padding: 0 1px;}
#results mark.answer.best {background: #ffe066;}
#results footer, .pack-item footer {display: flex; gap: 10px; align-items: center;
  flex-wrap: wrap; font-size: .9em;}
#results footer button, .pack-view button, #reader button {font-size: .9em; padding: 3px 10px;
  border-radius: 6px; border: 1px solid #8a8a8a; background: var(--background-fill-secondary);
  color: inherit; cursor: pointer;}
#results button.keep, #reader button.keep {border-color: #1b6e20; color: #1b6e20;
  font-weight: 700;}
#results button.keep.kept, #reader button.keep.kept {background: #e5f3e6;}
#results button.citation {all: unset; font-weight: 700; flex: 1; cursor: pointer;
  color: inherit; text-decoration: underline; text-decoration-color: #9a9a9a;
  text-underline-offset: 3px;}
#results button.citation:hover {text-decoration-color: currentColor;}
button:focus-visible, a:focus-visible {outline: 3px solid #1a5fb4 !important;
  outline-offset: 2px;}
#results .notice {padding: 10px 14px; border-radius: 8px; margin: 8px 0;}
#results .weak-notice {background: #fff4e5; border: 1px solid #f0a040; color: #6b3d00;}
#results .summary {color: #4a4a4a; font-size: .9em;}
#results .doc-group {margin: 1em 0 1.5em;}
#results .doc-group h3 {margin: .2em 0 .5em; font-size: 1.05em;}
#results .doc-group .count {font-weight: normal; color: #4a4a4a; font-size: .85em;}
.index-panel table {border-collapse: collapse;} .index-panel td, .index-panel th
  {padding: 2px 10px 2px 0; text-align: left; vertical-align: top;}
.index-panel td code {word-break: break-all;}  /* long ids wrap instead of being cut */
#reader, #evidence-toast {font-family: "Source Sans Pro", ui-sans-serif, system-ui,
  sans-serif;}
#reader {position: fixed; top: 0; right: 0; bottom: 0; width: min(960px, 100vw);
  overflow-y: auto; z-index: 1000; background: var(--background-fill-primary, #fff);
  color: var(--body-text-color, #1f1f1f); box-shadow: -4px 0 24px rgba(0,0,0,.25);
  padding: 16px 20px;}
#reader header {display: flex; gap: 12px; align-items: flex-start;}
#reader .reader-title {flex: 1; margin: 0; font-size: 1.1em;}
#reader .reader-bar, #reader .reader-pages {display: flex; gap: 10px; align-items: center;
  flex-wrap: wrap; margin: 10px 0;}
#reader .reader-close {font-size: 1.3em; line-height: 1;}
#reader .reader-note, #reader .reader-section {color: #4a4a4a; font-size: .9em;}
#reader img.reader-page-image {max-width: 100%; height: auto; border: 1px solid #ccc;}
#reader .reader-text {line-height: 1.55; max-width: 46em;}
#reader mark.passage {background: #ffe066; color: inherit; padding: 1px 0;}
#evidence-toast {position: fixed; bottom: 20px; left: 50%; transform: translateX(-50%);
  z-index: 1100; background: #1f3d20; color: #fff; padding: 10px 16px; border-radius: 8px;
  max-width: 90vw;}
#evidence-toast.failed {background: #7a1010;}
.pack-view .pack-bar {display: flex; gap: 10px; align-items: center; flex-wrap: wrap;
  margin: 8px 0;}
.pack-view select, .pack-view input, .pack-view textarea {border: 1px solid #8a8a8a;
  border-radius: 6px; padding: 3px 6px; background: var(--background-fill-primary);
  color: inherit; font: inherit;}
.pack-view .pack-items {padding-left: 1.6em;}
.pack-view .pack-item {border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 10px 14px; margin: 10px 0;}
.pack-view .citation {font-weight: 700;}
.pack-view blockquote.passage {white-space: pre-wrap; margin: 8px 0; padding-left: 12px;
  border-left: 3px solid #c9c9c9;}
.pack-view .pack-meta {color: #4a4a4a; font-size: .85em; margin: 4px 0;}
.pack-view .pack-note {display: block; font-size: .9em;}
.pack-view .pack-note textarea {width: 100%; display: block; margin: 4px 0 8px;}
.pack-view .pack-status {background: #fff4e5; border: 1px solid #f0a040; color: #6b3d00;
  padding: 4px 8px; border-radius: 6px; font-size: .9em;}
.pack-view .pack-item.document {border-style: dashed;}
.pack-view a.export {margin: 0 4px;}
.pack-view .pack-pager {display: flex; gap: 12px; align-items: center; margin: 10px 0;}
.contents details {margin: 4px 0;} .contents summary {cursor: pointer;}
.contents .count {color: #4a4a4a; font-size: .85em;}
.contents ul.sections {list-style: none; padding-left: 1em; margin: 4px 0 10px;}
/* Narrow screens (a phone, 400 px): the question takes the whole width above its button. */
@media (max-width: 640px) {
  #ask-row {flex-wrap: wrap;}
  #ask-row > * {flex: 1 1 100% !important; min-width: 100% !important;}
}
"""

PROGRESS = gr.Progress()  # Gradio swaps in a live tracker for each call

# The page's behaviour around Gradio (copy, keep, the reader, the pack tab): one script.
PAGE_JS = (Path(__file__).with_name("page.js")).read_text(encoding="utf-8")

# Gradio's bundled Source Sans Pro SemiBold holds only a few glyphs ("A", "B"), so text at
# weight 600 mixed two fonts ("Assembly" with a foreign "A"): load the complete Bold instead.
THEME = gr.themes.Default(font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)),
                                "ui-sans-serif", "system-ui", "sans-serif"])


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class WebConfig:
    index_dir: str | Path  # a folder or a store URI (milvus:///file.db, http://host:19530)
    corpus_dir: Path
    host: str = "127.0.0.1"
    port: int = 7860
    password: str | None = None  # required for upload and re-index when set
    max_upload_bytes: int = DEFAULT_MAX_BYTES

    @property
    def reindex_enabled(self) -> bool:
        """Off when the page is reachable from other machines and nothing protects it."""
        return bool(self.password) or is_loopback(self.host)


class App:
    """The handlers behind the page; plain methods, so the API endpoint and the UI share them."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.index = Index(config.index_dir)
        self.packs = PackStore(self.index.packs_path)
        self._contents: tuple[Any, str] = (None, "")
        self.exports = Path(tempfile.mkdtemp(prefix="evidence-search-exports-"))

    # -- searching ----------------------------------------------------------------------------
    def document_choices(self) -> list[tuple[str, str]]:
        try:
            docs = self.index.documents()
        except Exception:
            return []
        return [(f"{d.title} ({Path(d.doc_id).name})", d.doc_id) for d in docs]

    def run_search(self, question: str, k: float, mode: str, documents: list[str] | None,
                   section: str | None = None) -> list[Any]:
        section = " ".join((section or "").split())
        filters = Filters(documents=list(documents) if documents else None,
                          section=section or None)
        return self.index.search(question, k=int(k), mode=mode,
                                 filters=None if filters.is_empty() else filters)

    def search_page(self, question: str, k: float, mode: str, documents: list[str] | None,
                    grouped: bool = False, section: str | None = None):
        try:
            hits = self.run_search(question, k, mode, documents, section)
        except QueryError as exc:
            html = f'<div class="notice">{escape(str(exc))}</div>'
            return html, gr.update(visible=False), gr.update(visible=False)
        stamp = f"{time.time_ns()}"
        name = export_name(question, stamp)
        md = self.exports / f"{name}.md"
        searched = readable_time(datetime.now(UTC))
        md.write_text(to_markdown(hits, question, mode, documents or (), searched, section),
                      encoding="utf-8")
        table = self.exports / f"{name}.csv"
        table.write_text(to_csv(hits), encoding="utf-8")
        return (results_html(hits, question, stamp, grouped, section),
                gr.update(value=str(md), visible=bool(hits)),
                gr.update(value=str(table), visible=bool(hits)))

    def from_link(self, request: gr.Request) -> tuple[Any, ...]:
        """On page load: the document list and panel as they are now and, when the address
        holds a search (?q=...&k=...&mode=...&docs=a,b&section=...), that search filled in
        and run, with the options open when it narrows the search."""
        choices = self.document_choices()
        panel = self.panel_html()
        params: dict[str, Any] = {}
        if request:
            params = dict(request.query_params)
            params["docs"] = request.query_params.getlist("docs")
        asked = link_search(params, [value for _, value in choices])
        if asked is None:
            skip = gr.skip()
            return (gr.update(choices=choices), panel, *([skip] * 8))
        question, k, mode, documents, section = asked
        page = self.search_page(question, k, mode, documents, False, section)
        narrowed = bool(documents or section or mode != "hybrid")
        return (gr.update(choices=choices, value=documents), panel, question, k, mode, section,
                gr.update(open=True) if narrowed else gr.skip(), *page)

    def kept(self, item_id: int) -> KeptPassage | None:
        """A pack's kept passage by id (None when gone), for the reader."""
        try:
            return self.packs.item(item_id)
        except PackError:
            return None

    def pack_editing(self) -> str | None:
        """Why packs cannot be changed from here (None: they can). Like re-indexing: on a
        network address only with a password."""
        if self.config.reindex_enabled:
            return None
        return (f"Evidence packs are read-only: the server listens on {self.config.host} "
                "without a password (set EVIDENCE_SEARCH_PASSWORD).")

    def examples(self) -> list[str]:
        """Example searches built from the headings of the indexed documents."""
        try:
            with self.index.snapshot() as snap:
                top = min(snap.manifest.next_chunk_id, SAMPLED_PASSAGES + 1)
                rows = snap.chunks(list(range(1, top)))
        except Exception:  # no index yet: no examples
            return []
        headings = [(row.doc_id, heading) for _, row in sorted(rows.items())
                    for heading in row.section]
        return example_questions(headings)

    def search_again(self, question: str, k: float, mode: str,
                     documents: list[str] | None, grouped: bool = False,
                     section: str | None = None) -> Any:
        """The page's search, when a control changes and a question is in the box."""
        if not (question or "").strip():
            return gr.skip(), gr.skip(), gr.skip()
        return self.search_page(question, k, mode, documents, grouped, section)

    def search_api(self, question: str, k: int = 5, mode: str = "hybrid",
                   documents: list[str] | None = None) -> dict[str, Any]:
        """Ranked passages as JSON: {"weak": bool, "hits": [Hit fields...]}; a hit's `path` is
        sent as `document_path` (Gradio clients take any "path" key for a file to fetch)."""
        hits = self.run_search(question, k, mode, documents)
        rows = []
        for hit in hits:
            row = hit.to_dict()
            row["document_path"] = row.pop("path")
            rows.append(row)
        return {"weak": results_weak(hits), "hits": rows}

    # -- the index panel and re-indexing ------------------------------------------------------
    def panel_html(self) -> str:
        try:
            stats = self.index.stats()
            docs = self.index.documents()
        except Exception as exc:
            return f'<div class="index-panel">No index yet ({escape(str(exc))})</div>'
        size = (f" · {stats.size_bytes / 1024:,.0f} KB on disk"
                if stats.size_bytes is not None else f" · held by {escape(stats.engine)}")
        rows = "".join(
            f"<tr><td>{escape(d.title)}</td><td>{d.page_count or '–'}</td><td>{d.chunks}</td>"
            f"<td><code>{escape(d.doc_id)}</code></td></tr>" for d in docs)
        return (
            '<div class="index-panel">'
            f"<p><b>{stats.documents}</b> {_plural(stats.documents, 'document')} · "
            f"<b>{stats.chunks}</b> {_plural(stats.chunks, 'passage')} · "
            f"model <code>{escape(stats.model)}</code> · last updated "
            f"{escape(_when(stats.built_at))}"
            f"{size}</p>"
            "<table><tr><th>Document</th><th>Pages</th><th>Passages</th><th>Id</th></tr>"
            f"{rows}</table>{self.contents(stats, docs)}</div>")

    def contents(self, stats: Any, docs: list[Any]) -> str:
        """The table of contents, rebuilt only when the index changed."""
        key = (stats.generation, stats.documents, stats.chunks, stats.built_at)
        if self._contents[0] != key:
            try:
                paths = self.index.section_paths()
                sections = {d.doc_id: document_sections(paths.get(d.doc_id, []))
                            for d in docs}
            except Exception:  # a re-index swapped the index meanwhile: next load shows it
                return ""
            self._contents = (key, contents_html(docs, sections))
        return self._contents[1]

    def check_password(self, given: str | None) -> str | None:
        if not self.config.reindex_enabled:
            return ("Re-indexing from the page is off: the server listens on "
                    f"{self.config.host} without a password (set EVIDENCE_SEARCH_PASSWORD).")
        if self.config.password and not hmac.compare_digest(
                (given or "").encode(), self.config.password.encode()):
            return "Wrong password: nothing was uploaded or re-indexed."
        return None

    def reindex(self, files: list[Any] | None, password: str | None, rescan: bool,
                progress: gr.Progress | None = None) -> tuple[str, str, Any]:
        refused = self.check_password(password)
        if refused:
            return (f"**{refused}**", self.panel_html(),
                    gr.update(choices=self.document_choices()))
        failed: list[tuple[str, str]] = []
        saved: list[Path] = []
        for item in files or []:
            source = Path(getattr(item, "name", None) or str(item))
            original = getattr(item, "orig_name", None) or source.name
            result = save_upload(source, original, self.config.corpus_dir,
                                 self.config.max_upload_bytes)
            if result.path is None:
                failed.append((result.name, result.reason))
            else:
                saved.append(result.path)

        def hook(stage: str, done: int, total: int) -> None:
            if progress is not None and total:
                progress(done / total, desc=f"{stage} {done}/{total}")

        if rescan:
            report = self.index.refresh([self.config.corpus_dir], on_progress=hook)
        elif saved:
            report = self.index.add(saved, on_progress=hook)
        else:
            report = IndexReport()
        report.failed = failed + report.failed
        return (summary_markdown(report, rescan), self.panel_html(),
                gr.update(choices=self.document_choices()))


    def add_files(self, files: list[Any] | None, password: str | None,
                  progress: gr.Progress = PROGRESS) -> tuple[str, str, Any]:
        return self.reindex(files, password, False, progress)

    def rescan(self, password: str | None,
               progress: gr.Progress = PROGRESS) -> tuple[str, str, Any]:
        return self.reindex(None, password, True, progress)


def summary_markdown(report: IndexReport, rescan: bool) -> str:
    def names(items: list[str]) -> str:
        return ", ".join(f"`{_md(Path(i).name)}`" for i in items[:20]) + \
            (f" and {len(items) - 20} more" if len(items) > 20 else "")

    lines = [f"**Done in {report.seconds:.1f} s** — {report.chunks_embedded} "
             f"{_plural(report.chunks_embedded, 'passage')} embedded."]
    for label, items in (("Added", report.added), ("Changed", report.changed),
                         ("Removed", report.removed)):
        if items:
            lines.append(f"- {label} ({len(items)}): {names(items)}")
    if rescan:
        lines.append(f"- Unchanged: {len(report.unchanged)}")
    if report.notes:
        lines.append(f"- Indexed, with notes ({len(report.notes)}):")
        lines += [f"    - `{_md(Path(p).name)}`: {_md(note)}" for p, note in report.notes]
    if report.failed:
        lines.append(f"- Failed ({len(report.failed)}):")
        lines += [f"    - `{_md(Path(p).name)}`: {_md(reason)}" for p, reason in report.failed]
    return "\n".join(lines)


# Keeps the address in step with the search on screen, so it can be pasted into a briefing.
LINK_JS = """(q, k, mode, docs, grouped, section) => {
  const url = new URL(window.location.href);
  const text = (q || "").trim();
  if (!text) return [];
  url.searchParams.set("q", text);
  url.searchParams.set("k", String(k));
  url.searchParams.set("mode", mode);
  url.searchParams.delete("docs");  // one docs= per document: an id may hold a comma
  for (const doc of docs || []) url.searchParams.append("docs", doc);
  if (section && section.trim()) url.searchParams.set("section", section.trim());
  else url.searchParams.delete("section");
  window.history.replaceState(null, "", url.toString());
  return [];
}"""


# On a narrow screen the controls push the results below the fold: bring fresh ones into view.
SCROLL_JS = """() => {
  if (window.innerWidth > 640) return [];
  const results = document.querySelector('#results .results, #results .notice');
  if (results) results.scrollIntoView({block: 'start'});
  return [];
}"""


def example_questions(headings: Sequence[tuple[str, str]],
                      count: int = EXAMPLE_COUNT) -> list[str]:
    """Example searches from the corpus itself: its section headings (doc id, heading), the
    numbering dropped, headings phrased as questions first, then short topical ones, taken in
    turn from each document. Nothing about any particular corpus is written in code."""
    questions: dict[str, list[str]] = {}
    topics: dict[str, list[str]] = {}
    for doc_id, heading in headings:
        text = re.sub(r"^\s*(?:\d+[.)]|[A-Z][.)]|[ivx]+[.)])\s+", "", " ".join(heading.split()))
        if text.endswith("?") and len(text.split()) > 16:  # a long question: its first clause
            text = text.split(",")[0].rstrip("?") + "?"
        words = text.split()
        if text.endswith("?") and 4 <= len(words) <= 20:
            questions.setdefault(doc_id, []).append(text)
        elif 3 <= len(words) <= 8 and not text.isupper() and not re.search(r"\d{3,}", text):
            topics.setdefault(doc_id, []).append(text)
    out: list[str] = []
    for pool in (questions, topics):
        lists = [list(dict.fromkeys(v)) for v in pool.values()]
        while len(out) < count and any(lists):
            for items in lists:
                while items and items[0] in out:
                    items.pop(0)
                if items and len(out) < count:
                    out.append(items.pop(0))
    return out


def link_search(params: dict[str, Any],
                known: list[str]) -> tuple[str, int, str, list[str], str] | None:
    """The search a page address asks for, checked: a question, 1-20 results, a known mode,
    known documents (unknown ones are dropped) and a section's words; None when there is no
    question."""
    question = " ".join((params.get("q") or "").split())[:2000]
    if not question:
        return None
    try:
        k = min(20, max(1, int(params.get("k") or 5)))
    except ValueError:
        k = 5
    mode = params.get("mode") if params.get("mode") in MODES else "hybrid"
    given = params.get("docs") or []
    values = [given] if isinstance(given, str) else list(given)
    wanted: list[str] = []
    for value in values:  # docs=a&docs=b, or the older docs=a,b (an id may hold a comma)
        for doc in [value] if value in known else value.split(","):
            if doc in known and doc not in wanted:
                wanted.append(doc)
    section = " ".join((params.get("section") or "").split())[:300]
    return question, k, mode, wanted, section


def export_name(question: str, stamp: str) -> str:
    """A download's file name that says what it holds: evidence-<question words>-<time>."""
    words = re.findall(r"[a-z0-9]+", question.lower())[:8]
    slug = "-".join(words)[:60].rstrip("-") or "search"
    return f"evidence-{slug}-{stamp[-9:]}"


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


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


def build_blocks(app: App) -> gr.Blocks:
    """The page. Its order is also the keyboard's: question, Search, the options (folded),
    then the results — three Tab presses from the question to the first passage."""
    config = app.config
    with gr.Blocks(title="Evidence search") as blocks:
        gr.Markdown("## Evidence search\nAsk in plain words; every passage comes with a "
                    "citation you can quote. **Keep** the passages you need, then export "
                    "them as a cited evidence pack.")
        with gr.Tab("Ask", id="ask-tab"):
            with gr.Row(elem_id="ask-row"):
                examples_list = app.examples()
                question = gr.Textbox(label="Question", placeholder="e.g. " + (
                    examples_list[0] if examples_list else "what support do staff get after "
                                                           "a traumatic incident?"),
                                      scale=5, elem_id="question", max_length=2000)
                ask = gr.Button("Search", variant="primary", scale=1, elem_id="ask")
            with gr.Accordion("Options: number of results, search mode, documents, sections, "
                              "group by document", open=False, elem_id="options") as options:
                with gr.Row():
                    k = gr.Slider(1, 20, value=5, step=1, label="Results", elem_id="k")
                    mode = gr.Radio(list(MODES), value="hybrid", label="Search mode",
                                    elem_id="mode",
                                    info="hybrid: meaning and exact words (default) · "
                                         "semantic: meaning only · lexical: exact words only")
                    grouped = gr.Checkbox(False, label="Group by document", elem_id="group",
                                          info="what each document says, side by side")
                with gr.Row():
                    documents = gr.Dropdown(choices=app.document_choices(), multiselect=True,
                                            label="Only these documents", elem_id="documents")
                    section = gr.Textbox(label="Only sections whose heading contains",
                                         elem_id="section", max_length=300,
                                         placeholder="e.g. a heading from the Documents tab")
            results = gr.HTML(elem_id="results")
            with gr.Row():
                md_file = gr.DownloadButton("Download these results (Markdown)", visible=False,
                                            elem_id="download-md")
                csv_file = gr.DownloadButton("Download these results (CSV)", visible=False,
                                             elem_id="download-csv")
            examples = gr.Examples(examples_list or ["staff wellbeing support"],
                                   inputs=[question], label="Examples from your documents")
            gr.Markdown(HELP, elem_id="help")
            inputs = [question, k, mode, documents, grouped, section]
            outputs = [results, md_file, csv_file]
            for trigger in (question.submit, ask.click):
                trigger(app.search_page, inputs, outputs, api_visibility="private",
                        concurrency_limit=4, concurrency_id="search")
            # An example runs at once; changing results, mode, documents, section or grouping
            # runs the question in the box again (nothing happens while the box is empty).
            examples.load_input_event.then(app.search_page, inputs, outputs,
                                           api_visibility="private", concurrency_limit=4,
                                           concurrency_id="search")
            for change in (k.release, mode.change, documents.change, grouped.change,
                           section.submit, section.blur):
                change(app.search_again, inputs, outputs, api_visibility="private",
                       concurrency_limit=4, concurrency_id="search")
        with gr.Tab("Evidence pack", id="pack") as pack_tab:
            gr.HTML('<div id="pack-tab"><p>Loading the evidence pack…</p></div>',
                    elem_id="pack-panel")
        with gr.Tab("Documents", id="documents-tab"):
            panel = gr.HTML(app.panel_html(), elem_id="index-panel")
            if config.reindex_enabled:
                gr.Markdown(f"Add PDF (scanned ones too), Word, OpenDocument, web page, text "
                            f"or Markdown files (up to {config.max_upload_bytes // 10**6} MB "
                            "each); they are saved in the corpus folder and indexed. Searches "
                            "keep working meanwhile.")
                password = gr.Textbox(label="Password", type="password",
                                      visible=bool(config.password), elem_id="password")
                upload = gr.File(label="Files", file_count="multiple",
                                 file_types=list(SUPPORTED_SUFFIXES), elem_id="upload")
                with gr.Row():
                    add = gr.Button("Add and index uploaded files", variant="primary",
                                    elem_id="add-files")
                    rescan = gr.Button("Re-scan corpus folder", elem_id="rescan")
                summary = gr.Markdown(elem_id="reindex-summary")
                add.click(app.add_files, [upload, password], [summary, panel, documents],
                          api_visibility="private", concurrency_limit=1,
                          concurrency_id="reindex")
                rescan.click(app.rescan, [password], [summary, panel, documents],
                             api_visibility="private", concurrency_limit=1,
                             concurrency_id="reindex")
            else:
                gr.Markdown(f"**Re-indexing from the page is off**: this server listens on "
                            f"`{config.host}` without a password. Set "
                            "`EVIDENCE_SEARCH_PASSWORD` to enable it.")
        gr.api(app.search_api, api_name="search", concurrency_limit=4, concurrency_id="search")
        # Each page load shows the index as it is now (the page is built once, at start) and
        # runs the search a link holds; each search writes itself into the address.
        blocks.load(app.from_link, None,
                    [documents, panel, question, k, mode, section, options, *outputs],
                    api_visibility="private")
        for event in (question.submit, ask.click, mode.change, k.release, documents.change,
                      section.submit, section.blur, examples.load_input_event.then):
            event(None, inputs, None, js=LINK_JS)
        results.change(None, None, None, js=SCROLL_JS)
        pack_tab.select(None, None, None, js="() => { window.evidenceSearch.refreshPack(); "
                                               "return []; }")
    return blocks


def build_app(config: WebConfig) -> FastAPI:
    app = App(config)
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    api.add_middleware(PackGuard, editing=app.pack_editing, password=config.password)
    if is_loopback(config.host):  # a page on this machine answers to this machine's names
        # only: another site's name pointed at 127.0.0.1 (DNS rebinding) is refused
        api.add_middleware(TrustedHostMiddleware, allowed_hosts=[
            "127.0.0.1", "localhost", "::1", "[::1]", config.host])
    api.include_router(document_router(app.index, config.corpus_dir, app.kept))
    api.include_router(pack_router(app.index, app.packs, app.pack_editing))
    blocks = build_blocks(app)
    return gr.mount_gradio_app(api, blocks, path="", css=CSS, theme=THEME,
                               head=f"<script>{PAGE_JS}</script>",
                               max_file_size=config.max_upload_bytes, footer_links=["api"],
                               allowed_paths=[str(app.exports)], ssr_mode=False)
