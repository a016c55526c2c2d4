"""HTTP endpoints for evidence packs. The page's JavaScript and a user's scripts call the same
ones: list, create, rename, delete packs; keep, move, annotate, remove passages; export.

    curl -s localhost:7860/packs                                   # the packs
    curl -s -X POST localhost:7860/packs -H 'Content-Type: application/json' \\
         -d '{"name": "Briefing"}'                                 # a new pack
    curl -s -X POST localhost:7860/packs/1/items -H 'Content-Type: application/json' \\
         -d '{"doc_id": "...", "start": 0, "end": 420, "question": "..."}'   # keep a hit
    curl -s -o pack.docx 'localhost:7860/packs/1/export?format=docx'

A passage is named by its document and offsets (a search hit's doc_id, start, end); its text
and citation come from the index, so a pack quotes what the documents say.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from search.index import Index
from search.packs import (
    PackConflict,
    PackError,
    PackNotFound,
    PackStore,
    mark_status,
    pack_file_stem,
)
from search.packs.export import (
    Reference,
    reference_of,
    to_csv,
    to_docx,
    to_markdown,
    to_text,
)
from search.packs.store import MAX_HIGHLIGHTS, clean_note
from search.records import KeptPassage, Pack, StoredDocument
from search.web.pack_view import PAGE_SIZE, pack_html
from search.web.render import readable_time

FORMATS = {
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    "md": ("text/markdown; charset=utf-8", "md"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "txt": ("text/plain; charset=utf-8", "txt"),
}
PASSWORD_HEADER = "X-Evidence-Password"
MAX_BODY_BYTES = 64_000  # a keep, a note (4,000 characters) or a name, with room to spare


class NewPack(BaseModel):
    name: str = Field(max_length=1000)


class KeepPassage(BaseModel):
    """A request to keep a hit, named by its document and offsets."""

    doc_id: str = Field(max_length=4000)
    start: int = Field(ge=0, lt=2**62)
    end: int = Field(ge=0, lt=2**62)
    question: str = Field("", max_length=4000)
    mode: Literal["", "hybrid", "semantic", "lexical"] = ""
    note: str = Field("", max_length=20_000)
    # the sentences the page marked as answering, as spans into the passage (checked)
    highlights: list[tuple[int, int]] = Field(default_factory=list,
                                              max_length=MAX_HIGHLIGHTS)


class EditPassage(BaseModel):
    """A note (with `was`, the note as this tab shows it, to catch another tab's edit), a
    move one step up or down from where the passage is now, or a move to a position."""

    note: str | None = Field(None, max_length=20_000)
    was: str | None = Field(None, max_length=20_000)
    step: Literal[-1, 1] | None = None
    position: int | None = Field(None, ge=0, lt=2**62)


def change_refusal(request: Request, editing: Callable[[], str | None],
                   password: str | None) -> tuple[int, str] | None:
    """Why a change to packs is refused, before its body is read (None: go ahead): read-only
    here, another site's page, not JSON, too big, or a wrong password."""
    refused = editing()
    if refused:
        return 403, refused
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin and origin.split("://", 1)[-1] != host:
        return 403, "changes to packs are accepted from this page only"
    if request.method in ("POST", "PATCH") and not request.headers.get(
            "content-type", "").startswith("application/json"):
        return 415, "send JSON (Content-Type: application/json)"
    try:
        size = int(request.headers.get("content-length") or 0)
    except ValueError:
        size = MAX_BODY_BYTES + 1
    if size > MAX_BODY_BYTES:
        return 413, f"request too large ({size:,} bytes; at most {MAX_BODY_BYTES:,})"
    if password and not hmac.compare_digest(
            request.headers.get(PASSWORD_HEADER, "").encode(), password.encode()):
        return 401, f"wrong or missing password ({PASSWORD_HEADER} header)"
    return None


class PackGuard:
    """ASGI middleware that refuses changes to /packs before anything reads the body; every
    other request passes straight through (no wrapping of Gradio's streamed responses)."""

    def __init__(self, app: ASGIApp, editing: Callable[[], str | None],
                 password: str | None) -> None:
        self.app, self.editing, self.password = app, editing, password

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/packs") and \
                scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            refused = change_refusal(Request(scope), self.editing, self.password)
            if refused:
                response = JSONResponse({"detail": refused[1]}, status_code=refused[0])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def pack_router(index: Index, store: PackStore, editing: Callable[[], str | None]) -> APIRouter:
    """The /packs endpoints (changes are guarded by PackGuard, in front of them);
    `editing()` says why the tab offers no editing controls (None: it does)."""
    router = APIRouter()

    def call(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except PackConflict as exc:
            current = exc.current
            raise HTTPException(409, {"message": str(exc), "current": asdict(current)}
                                if isinstance(current, KeptPassage) else str(exc)) from None
        except PackNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except PackError as exc:
            raise HTTPException(400, str(exc)) from None

    def marked(items: list[KeptPassage],
               documents: list[StoredDocument] | None = None) -> list[KeptPassage]:
        documents = index.documents() if documents is None else documents
        return mark_status(items, {d.doc_id: d.sha256 for d in documents})

    @router.get("/packs")
    def list_packs() -> list[dict[str, Any]]:
        return [asdict(p) for p in call(store.packs)]

    @router.post("/packs", status_code=201)
    def create_pack(body: NewPack) -> dict[str, Any]:
        return asdict(call(lambda: store.create(body.name)))

    @router.get("/packs/view", response_class=HTMLResponse)
    def view(pack: int | None = None, offset: int = 0) -> str:
        """The pack tab's HTML (the open pack, or the most recent one), one page of it:
        `offset` is rounded down to a page and kept within the pack."""
        packs = call(store.packs)
        chosen = next((p for p in packs if p.id == pack), packs[0] if packs else None)
        if chosen is None:
            return pack_html([], None, [], editable=editing() is None)
        last = max(0, (chosen.count - 1) // PAGE_SIZE * PAGE_SIZE)
        offset = min(max(0, offset) // PAGE_SIZE * PAGE_SIZE, last)
        items = marked(call(lambda: store.items(chosen.id, offset, PAGE_SIZE)))
        return pack_html(packs, chosen, items, offset, editable=editing() is None)

    @router.get("/packs/{pack_id}")
    def get_pack(pack_id: int, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        pack = call(lambda: store.get(pack_id))
        items = marked(call(lambda: store.items(pack_id, offset, limit)))
        return {"pack": asdict(pack), "items": [asdict(i) for i in items]}

    @router.get("/packs/{pack_id}/kept")
    def kept_passages(pack_id: int) -> dict[str, Any]:
        """Which passages the pack holds, as [doc_id, start, end]: the page shows them as
        Kept after a reload, without reading their text."""
        return {"passages": [list(span) for span in call(lambda: store.kept_spans(pack_id))]}

    @router.patch("/packs/{pack_id}")
    def rename_pack(pack_id: int, body: NewPack) -> dict[str, Any]:
        return asdict(call(lambda: store.rename(pack_id, body.name)))

    @router.delete("/packs/{pack_id}", status_code=204)
    def delete_pack(pack_id: int) -> Response:
        call(lambda: store.get(pack_id))
        call(lambda: store.delete(pack_id))
        return Response(status_code=204)

    @router.post("/packs/{pack_id}/items", status_code=201)
    def keep(pack_id: int, body: KeepPassage) -> dict[str, Any]:
        """Keep a search hit (its doc_id, start, end) in the pack, with the question it
        answered; the text, citation and document fingerprint come from one view of the
        index. A bad note refuses the whole request: nothing is kept."""
        note = call(lambda: clean_note(body.note))
        found = index.in_context(body.doc_id, body.start, body.end, text=False)
        if found is None or found.hit is None:
            raise HTTPException(404, f"no passage at {body.start}-{body.end} of "
                                     f"{body.doc_id!r} in the index (re-indexed? search again)")
        hit, sha = found.hit, found.sha256
        hit.highlights = [(a, b) for a, b in body.highlights]
        already = call(lambda: store.holds(pack_id, hit.doc_id, hit.start, hit.end))
        kept = call(lambda: store.keep(pack_id, hit, body.question[:2000], body.mode, sha))
        if note:
            kept = call(lambda: store.set_note(kept.id, note))
        pack = call(lambda: store.get(pack_id))
        # `already`: the pack held this passage (it is kept once), so the page says so
        return {"item": asdict(kept), "pack": asdict(pack), "already": already}

    @router.patch("/packs/{pack_id}/items/{item_id}")
    def edit(pack_id: int, item_id: int, body: EditPassage) -> dict[str, Any]:
        item = owned(pack_id, item_id)
        if body.note is not None:
            item = call(lambda: store.set_note(item_id, body.note or "", body.was))
        if body.step is not None:
            item = call(lambda: store.step(item_id, int(body.step or 0)))
        elif body.position is not None:
            item = call(lambda: store.move(item_id, int(body.position or 0)))
        return asdict(item)

    @router.delete("/packs/{pack_id}/items/{item_id}", status_code=204)
    def remove(pack_id: int, item_id: int) -> Response:
        owned(pack_id, item_id)
        call(lambda: store.remove(item_id))
        return Response(status_code=204)

    def owned(pack_id: int, item_id: int) -> KeptPassage:
        item = call(lambda: store.item(item_id))
        if item.pack_id != pack_id:
            raise HTTPException(404, "that passage is not in this pack")
        return item

    @router.get("/packs/{pack_id}/export")
    def export(pack_id: int, format: str = "docx") -> Response:  # noqa: A002 - the query name
        if format not in FORMATS:
            raise HTTPException(400, f"format must be one of {', '.join(FORMATS)}")
        pack = call(lambda: store.get(pack_id))
        documents = index.documents()  # read once: for the marks and the references
        items = marked(call(lambda: store.items(pack_id)), documents)
        references = {d.doc_id: reference_of(d.title, d.meta) for d in documents}
        return export_response(pack, items, format, references)

    return router


def export_response(pack: Pack, items: list[KeptPassage], fmt: str,
                    references: Mapping[str, Reference] | None = None) -> Response:
    """A pack as a download named after it (evidence-pack-<name>.docx), never a path; its
    sources listed as `references` (doc id → Reference) describe them."""
    made = readable_time(datetime.now(UTC))
    media, suffix = FORMATS[fmt]
    body: bytes | str
    if fmt == "docx":
        body = to_docx(pack, items, made, references)
    elif fmt == "md":
        body = to_markdown(pack, items, made, references)
    elif fmt == "csv":
        body = to_csv(pack, items)
    else:
        body = to_text(pack, items, made, references)
    name = f"{pack_file_stem(pack.name)}.{suffix}"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
