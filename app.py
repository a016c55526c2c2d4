"""Start the evidence search web page: `python app.py` (or `make run`).

Builds or refreshes the index from the corpus folder first (only what changed is embedded),
then serves on 127.0.0.1:7860. Flags override environment variables, which override defaults.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from search import Index
from search.config import ENV_INDEX, ENV_STORE, default_store, web_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    web = web_settings()
    parser = argparse.ArgumentParser(description="Evidence search web app")
    parser.add_argument("--host", default=web.host,
                        help="interface to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=web.port)
    parser.add_argument("--index", "--store", dest="index", default=default_store(),
                        metavar="DIR|URI",
                        help=f"index folder or Milvus URI (milvus:///path/file.db, "
                             f"http://host:19530; default ${ENV_STORE}, ${ENV_INDEX} or index/)")
    parser.add_argument("--corpus", type=Path, default=Path(web.corpus))
    parser.add_argument("--max-upload-mb", type=float, default=web.max_upload_mb)
    parser.add_argument("--no-index", action="store_true",
                        help="serve the index as it is; do not refresh it from the corpus")
    return parser.parse_args(argv)


def warm(index: Index) -> None:
    try:
        index.warm()
    except Exception as exc:  # noqa: BLE001 - a failed warm-up leaves the first search slower
        print(f"note: {exc}", file=sys.stderr)


def first_request(server: Any, host: str, port: int) -> None:
    """Ask the page one question as soon as it listens, then say where it is: Gradio sets
    itself up on its first request (0.5 s), which should not be the user's."""
    import httpx

    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.02)
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    if ":" in host and not host.startswith("["):
        base = f"http://[{'::1' if host == '::' else host}]:{port}"
    try:
        call = httpx.post(f"{base}/gradio_api/call/search",
                          json={"data": ["warm up", 1, "hybrid", None]}, timeout=30)
        event = call.json()["event_id"]
        with httpx.stream("GET", f"{base}/gradio_api/call/search/{event}", timeout=30) as reply:
            for _ in reply.iter_bytes():
                pass
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        print(f"note: the page's first request failed ({exc})", file=sys.stderr)
    print(f"Evidence search: http://{host}:{port}/", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import uvicorn

    from search.web.app import WebConfig, build_app, is_loopback

    settings = web_settings()
    password = settings.password
    args.corpus.mkdir(parents=True, exist_ok=True)
    index = Index(args.index)
    # The question model, the reader and the index's files load while the corpus is checked,
    # so the first question is answered as fast as the next (Index.warm).
    warming = threading.Thread(target=warm, args=(index,), daemon=True)
    if args.no_index:
        warming.start()
    else:
        print(f"Checking the index at {args.index} against {args.corpus}/ ...", flush=True)
        if index.store.peek_manifest() is not None:  # a new index: its model loads to build it
            warming.start()
        report = index.refresh([args.corpus], progress=True)
        for path, note in report.notes:
            print(f"note: {path}: {note}", file=sys.stderr)
        for path, reason in report.failed:
            print(f"failed: {path}: {reason}", file=sys.stderr)
        print(report.summary(), flush=True)
        if warming.ident is None:  # started only now: the index was new
            warming.start()
    config = WebConfig(index_dir=args.index, corpus_dir=args.corpus, host=args.host,
                       port=args.port, password=password,
                       max_upload_bytes=int(args.max_upload_mb * 1_000_000),
                       searches_at_once=settings.searches_at_once)
    if not is_loopback(args.host) and not password:
        print(f"warning: listening on {args.host} without EVIDENCE_SEARCH_PASSWORD: upload and "
              "re-index are disabled on the page", file=sys.stderr)
    app = build_app(config, index)
    warming.join()
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port,
                                           log_level="warning"))
    threading.Thread(target=first_request, args=(server, args.host, args.port),
                     daemon=True).start()
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
