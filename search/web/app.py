"""The web page: ask, read ranked cited passages, add documents. Gradio Blocks mounted on a
FastAPI app that also serves the source documents — corpus files only."""

from __future__ import annotations

import hmac
import ipaddress
import os
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from search.config import SEARCHES_AT_ONCE, SUPPORTED_SUFFIXES
from search.index import Index, QueryError
from search.packs import PackError, PackStore
from search.records import Filters, IndexReport, KeptPassage
from search.retrieve.confidence import results_weak
from search.retrieve.pipeline import Searched
from search.retrieve.query import MODES
from search.web.contents import contents_html, document_sections
from search.web.document_routes import document_router
from search.web.index_panel import panel_html, summary_markdown
from search.web.latest import LatestSearches
from search.web.links import example_label, example_questions, export_name, link_search
from search.web.pack_routes import PackGuard, pack_router
from search.web.render import readable_time, results_html, to_csv, to_markdown
from search.web.style import CSS, HEAD_CSS, HELP, LINK_JS, PAGE_JS, SCROLL_JS, THEME
from search.web.uploads import DEFAULT_MAX_BYTES, save_upload

SAMPLED_PASSAGES = 2000  # passages read (in id order, from the first) for examples' headings
KEPT_DOWNLOADS = 200  # searches whose two downloads stay in the exports folder

PROGRESS = gr.Progress()  # Gradio swaps in a live tracker for each call

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
    searches_at_once: int = SEARCHES_AT_ONCE  # Gradio's concurrency limit for searches

    @property
    def reindex_enabled(self) -> bool:
        """Off when the page is reachable from other machines and nothing protects it."""
        return bool(self.password) or is_loopback(self.host)


class App:
    """The handlers behind the page; plain methods, so the API endpoint and the UI share them."""

    def __init__(self, config: WebConfig, index: Index | None = None) -> None:
        self.config = config
        self.index = index if index is not None else Index(config.index_dir)
        self.packs = PackStore(self.index.packs_path)
        self._contents: tuple[Any, str] = (None, "")
        self.exports = Path(tempfile.mkdtemp(prefix="evidence-search-exports-"))
        self._written: deque[Path] = deque()  # the downloads written, oldest first
        self._written_lock = threading.Lock()
        self.latest = LatestSearches()  # a page's older search never replaces a newer one

    # -- searching ----------------------------------------------------------------------------
    def document_choices(self, docs: list[Any] | None = None) -> list[tuple[str, str]]:
        """The document filter's choices (`docs`: the documents, already read)."""
        try:
            docs = self.index.documents() if docs is None else docs
        except Exception:
            return []
        return [(f"{d.title} ({Path(d.doc_id).name})", d.doc_id) for d in docs]

    def run_search(self, question: str, k: float, mode: str, documents: list[str] | None,
                   section: str | None = None) -> Searched:
        """The hits, and the question as searched (a misspelt word read as the index's)."""
        section = " ".join((section or "").split())
        filters = Filters(documents=list(documents) if documents else None,
                          section=section or None)
        return self.index.run(self.index.query(
            question, k=int(k), mode=mode, filters=None if filters.is_empty() else filters))

    def search_page(self, question: str, k: float, mode: str, documents: list[str] | None,
                    grouped: bool = False, section: str | None = None,
                    request: gr.Request | None = None):
        """The results, their Markdown and CSV downloads; nothing (the page keeps what it
        shows) when a newer search of the same page started meanwhile."""
        page = getattr(request, "session_hash", None)
        turn = self.latest.begin(page) if page else 0
        result: Searched | QueryError
        try:
            result = self.run_search(question, k, mode, documents, section)
        except QueryError as exc:
            result = exc
        if page and not self.latest.is_newest(page, turn):
            return gr.skip(), gr.skip(), gr.skip()
        if isinstance(result, QueryError):
            html = f'<div class="notice">{escape(str(result))}</div>'
            return html, gr.update(visible=False), gr.update(visible=False)
        return self._shown(result, question, mode, documents, grouped, section)

    def _shown(self, result: Searched, question: str, mode: str, documents: list[str] | None,
               grouped: bool, section: str | None) -> tuple[Any, ...]:
        """A search's results as the page shows them, with its two downloads written."""
        hits = result.hits
        stamp = f"{time.time_ns()}"
        name = export_name(question, stamp)
        md = self.exports / f"{name}.md"
        searched = readable_time(datetime.now(UTC))
        md.write_text(to_markdown(hits, question, mode, documents or (), searched, section),
                      encoding="utf-8")
        table = self.exports / f"{name}.csv"
        table.write_text(to_csv(hits), encoding="utf-8")
        self._forget_old_downloads(md, table)
        return (results_html(hits, question, stamp, grouped, section, result.corrected),
                gr.update(value=str(md), visible=bool(hits)),
                gr.update(value=str(table), visible=bool(hits)))

    def _forget_old_downloads(self, *written: Path) -> None:
        """Keeps the folder of downloads to the last KEPT_DOWNLOADS searches: Gradio serves
        each from its own copy (kept a day), so a day of searches under load stays bounded."""
        with self._written_lock:
            self._written.extend(written)
            old = [self._written.popleft()
                   for _ in range(max(0, len(self._written) - 2 * KEPT_DOWNLOADS))]
        for path in old:
            path.unlink(missing_ok=True)

    def from_link(self, request: gr.Request) -> tuple[Any, ...]:
        """On page load: the document list and panel as they are now and, when the address
        holds a search (?q=...&k=...&mode=...&docs=a,b&section=...&group=1), that search
        filled in and run, with the options open when it narrows or groups the search."""
        try:  # read once for both the filter and the panel
            docs: list[Any] | None = self.index.documents()
        except Exception:
            docs = None
        choices = self.document_choices(docs) if docs is not None else []
        panel = self.panel_html(docs)
        params: dict[str, Any] = {}
        if request:
            params = dict(request.query_params)
            params["docs"] = request.query_params.getlist("docs")
        asked = link_search(params, [value for _, value in choices])
        if asked is None:
            skip = gr.skip()
            return (gr.update(choices=choices), panel, *([skip] * 9))
        question, k, mode, documents, section = asked
        grouped = params.get("group") in ("1", "true", "on")
        page = self.search_page(question, k, mode, documents, grouped, section, request)
        narrowed = bool(documents or section or grouped or mode != "hybrid")
        return (gr.update(choices=choices, value=documents), panel, question, k, mode, section,
                grouped, gr.update(open=True) if narrowed else gr.skip(), *page)

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
            headings = self.index.headings(SAMPLED_PASSAGES)
        except Exception:  # no index yet: no examples
            return []
        return example_questions(headings)

    def search_again(self, question: str, k: float, mode: str,
                     documents: list[str] | None, grouped: bool = False,
                     section: str | None = None, request: gr.Request | None = None) -> Any:
        """The page's search, when a control changes and a question is in the box."""
        if not (question or "").strip():
            return gr.skip(), gr.skip(), gr.skip()
        return self.search_page(question, k, mode, documents, grouped, section, request)

    def search_api(self, question: str, k: int = 5, mode: str = "hybrid",
                   documents: list[str] | None = None) -> dict[str, Any]:
        """Ranked passages as JSON: {"weak": bool, "hits": [Hit fields...]}; a hit's `path` is
        sent as `document_path` (Gradio clients take any "path" key for a file to fetch)."""
        searched = self.run_search(question, k, mode, documents)
        hits = searched.hits
        rows = []
        for hit in hits:
            row = hit.to_dict()
            row["document_path"] = row.pop("path")
            rows.append(row)
        return {"weak": results_weak(hits), "hits": rows, "searched_as": searched.corrected}

    # -- the index panel and re-indexing ------------------------------------------------------
    def panel_html(self, docs: list[Any] | None = None) -> str:
        """The Documents tab's panel as the index is now (`docs`: already read)."""
        try:
            stats = self.index.stats()
            docs = self.index.documents() if docs is None else docs
        except Exception as exc:
            return f'<div class="index-panel">No index yet ({escape(str(exc))})</div>'
        return panel_html(stats, docs, self.contents(stats, docs))

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
                  progress: gr.Progress = PROGRESS) -> tuple[Any, ...]:
        """Index the uploads, then empty the upload box (a file left there looks pending);
        a refused password keeps the files, to try again."""
        done = self.reindex(files, password, False, progress)
        refused = self.check_password(password) is not None
        return (*done, gr.skip() if refused else None)

    def rescan(self, password: str | None,
               progress: gr.Progress = PROGRESS) -> tuple[str, str, Any]:
        return self.reindex(None, password, True, progress)


def build_blocks(app: App) -> gr.Blocks:
    """The page. Its order is also the keyboard's: question, Search, the options (folded),
    then the results — three Tab presses from the question to the first passage."""
    config = app.config
    at_once = config.searches_at_once  # searches answered at once; the rest queue
    # Gradio copies each download into its cache; files older than a day go, checked hourly.
    with gr.Blocks(title="Evidence search", delete_cache=(3600, 86400)) as blocks:
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
            shown = examples_list or ["staff wellbeing support"]
            # labels: Gradio cuts a long example at 60 characters, mid-word; ours cut at words
            examples = gr.Examples(shown, inputs=[question], label="Examples from your documents",
                                   example_labels=[example_label(e) for e in shown])
            gr.Markdown(HELP, elem_id="help")
            inputs = [question, k, mode, documents, grouped, section]
            outputs = [results, md_file, csv_file]
            for trigger in (question.submit, ask.click):
                trigger(app.search_page, inputs, outputs, api_visibility="private",
                        concurrency_limit=at_once, concurrency_id="search")
            # An example runs at once; changing results, mode, documents, section or grouping
            # runs the question in the box again (nothing happens while the box is empty).
            # Only the user's own changes (`input`, not `change`): the document list fires
            # `change` when the options first unfold, and those extra searches could finish
            # after the one the user asked for and show results for other options.
            examples.load_input_event.then(app.search_page, inputs, outputs,
                                           api_visibility="private", concurrency_limit=at_once,
                                           concurrency_id="search")
            for change in (k.release, mode.input, documents.input, grouped.input,
                           section.submit, section.blur):
                change(app.search_again, inputs, outputs, api_visibility="private",
                       concurrency_limit=at_once, concurrency_id="search")
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
                add.click(app.add_files, [upload, password],
                          [summary, panel, documents, upload],
                          api_visibility="private", concurrency_limit=1,
                          concurrency_id="reindex")
                rescan.click(app.rescan, [password], [summary, panel, documents],
                             api_visibility="private", concurrency_limit=1,
                             concurrency_id="reindex")
            else:
                gr.Markdown(f"**Re-indexing from the page is off**: this server listens on "
                            f"`{config.host}` without a password. Set "
                            "`EVIDENCE_SEARCH_PASSWORD` to enable it.")
        gr.api(app.search_api, api_name="search", concurrency_limit=at_once,
               concurrency_id="search")
        # Each page load shows the index as it is now (the page is built once, at start) and
        # runs the search a link holds; each search writes itself into the address.
        blocks.load(app.from_link, None,
                    [documents, panel, question, k, mode, section, grouped, options, *outputs],
                    api_visibility="private")
        for event in (question.submit, ask.click, mode.input, k.release, documents.input,
                      grouped.input, section.submit, section.blur,
                      examples.load_input_event.then):
            event(None, inputs, None, js=LINK_JS)
        results.change(None, None, None, js=SCROLL_JS)
        pack_tab.select(None, None, None, js="() => { window.evidenceSearch.refreshPack(); "
                                               "return []; }")
    return blocks


def build_app(config: WebConfig, index: Index | None = None) -> FastAPI:
    """The page and its routes over `index` (default: opened from config.index_dir)."""
    # Gradio summarises its last 10,000 events in a pandas DataFrame after every event (for
    # its monitoring page, unused here): 3 ms a search at first, more as events accumulate.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
    app = App(config, index)
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
                               head=f"<style>{HEAD_CSS}</style><script>{PAGE_JS}</script>",
                               max_file_size=config.max_upload_bytes, footer_links=["api"],
                               allowed_paths=[str(app.exports)], ssr_mode=False)
