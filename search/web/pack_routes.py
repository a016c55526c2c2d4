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
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from search.index import Index
from search.packs import KeptPassage, Pack, PackError, PackStore, mark_status, pack_file_stem
from search.packs.export import to_csv, to_docx, to_markdown, to_text
from search.web.pack_view import PAGE_SIZE, pack_html

FORMATS = {
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    "md": ("text/markdown; charset=utf-8", "md"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "txt": ("text/plain; charset=utf-8", "txt"),
}
PASSWORD_HEADER = "X-Evidence-Password"


class NewPack(BaseModel):
    name: str


class KeepPassage(BaseModel):
    doc_id: str
    start: int
    end: int
    question: str = ""
    mode: str = ""
    note: str = ""


class EditPassage(BaseModel):
    note: str | None = None
    position: int | None = None


def pack_router(index: Index, store: PackStore, editing: Callable[[], str | None],
                password: str | None) -> APIRouter:
    """The /packs endpoints. `editing()` says why changes are refused (None: allowed);
    when a password is set, changes carry it in the X-Evidence-Password header."""

    def guard(request: Request) -> None:
        """Changes only from this page or a script: JSON bodies (a cross-site form cannot
        send them), no foreign Origin, and the password where one is set. Runs before the
        body is read, so a refused request learns why, not what its body lacked."""
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        refused = editing()
        if refused:
            raise HTTPException(403, refused)
        origin = request.headers.get("origin")
        if origin and origin.split("://", 1)[-1] != request.headers.get("host"):
            raise HTTPException(403, "changes to packs are accepted from this page only")
        if request.method in ("POST", "PATCH") and not request.headers.get(
                "content-type", "").startswith("application/json"):
            raise HTTPException(415, "send JSON (Content-Type: application/json)")
        if password and not hmac.compare_digest(
                request.headers.get(PASSWORD_HEADER, "").encode(), password.encode()):
            raise HTTPException(401, f"wrong or missing password ({PASSWORD_HEADER} header)")

    router = APIRouter(dependencies=[Depends(guard)])

    def call(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except PackError as exc:
            status = 404 if str(exc).startswith(("no pack", "that passage")) else 400
            raise HTTPException(status, str(exc)) from None

    def marked(items: list[KeptPassage]) -> list[KeptPassage]:
        current = {d.doc_id: d.sha256 for d in index.documents()}
        return mark_status(items, current)

    @router.get("/packs")
    def list_packs() -> list[dict[str, Any]]:
        return [asdict(p) for p in store.packs()]

    @router.post("/packs", status_code=201)
    def create_pack(body: NewPack) -> dict[str, Any]:
        return asdict(call(lambda: store.create(body.name)))

    @router.get("/packs/view", response_class=HTMLResponse)
    def view(pack: int | None = None, offset: int = 0) -> str:
        """The pack tab's HTML (the open pack, or the most recent one)."""
        packs = store.packs()
        chosen = next((p for p in packs if p.id == pack), packs[0] if packs else None)
        if chosen is None:
            return pack_html([], None, [], editable=editing() is None)
        offset = max(0, min(offset, max(0, chosen.count - 1)))
        items = marked(store.items(chosen.id, offset, PAGE_SIZE))
        return pack_html(packs, chosen, items, offset, editable=editing() is None)

    @router.get("/packs/{pack_id}")
    def get_pack(pack_id: int, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        pack = call(lambda: store.get(pack_id))
        items = marked(store.items(pack_id, max(0, offset), limit))
        return {"pack": asdict(pack), "items": [asdict(i) for i in items]}

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
        answered; the text and citation are read from the index."""
        hit = index.passage(body.doc_id, body.start, body.end)
        if hit is None:
            raise HTTPException(404, f"no passage at {body.start}-{body.end} of "
                                     f"{body.doc_id!r} in the index (re-indexed? search again)")
        sha = next((d.sha256 for d in index.documents() if d.doc_id == body.doc_id), "")
        kept = call(lambda: store.keep(pack_id, hit, body.question[:2000], body.mode, sha))
        if body.note:
            kept = call(lambda: store.set_note(kept.id, body.note))
        return {"item": asdict(kept), "pack": asdict(store.get(pack_id))}

    @router.patch("/packs/{pack_id}/items/{item_id}")
    def edit(pack_id: int, item_id: int, body: EditPassage) -> dict[str, Any]:
        item = owned(pack_id, item_id)
        if body.note is not None:
            item = call(lambda: store.set_note(item_id, body.note or ""))
        if body.position is not None:
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
        items = marked(store.items(pack_id))
        return export_response(pack, items, format)

    return router


def export_response(pack: Pack, items: list[KeptPassage], fmt: str) -> Response:
    """A pack as a download named after it (evidence-pack-<name>.docx), never a path."""
    from datetime import UTC, datetime

    made = datetime.now(UTC).strftime("%-d %b %Y, %H:%M UTC")
    media, suffix = FORMATS[fmt]
    body: bytes | str
    if fmt == "docx":
        body = to_docx(pack, items, made)
    elif fmt == "md":
        body = to_markdown(pack, items, made)
    elif fmt == "csv":
        body = to_csv(pack, items)
    else:
        body = to_text(pack, items, made)
    name = f"{pack_file_stem(pack.name)}.{suffix}"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
