"""Start the evidence search web page: `python app.py` (or `make run`).

Builds or refreshes the index from the corpus folder first (only what changed is embedded),
then serves on 127.0.0.1:7860. Flags override environment variables, which override defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import uvicorn

    from search import Index
    from search.web.app import WebConfig, build_app, is_loopback

    password = web_settings().password
    args.corpus.mkdir(parents=True, exist_ok=True)
    if not args.no_index:
        print(f"Checking the index at {args.index} against {args.corpus}/ ...", flush=True)
        report = Index(args.index).refresh([args.corpus], progress=True)
        for path, note in report.notes:
            print(f"note: {path}: {note}", file=sys.stderr)
        for path, reason in report.failed:
            print(f"failed: {path}: {reason}", file=sys.stderr)
        print(report.summary(), flush=True)
    config = WebConfig(index_dir=args.index, corpus_dir=args.corpus, host=args.host,
                       port=args.port, password=password,
                       max_upload_bytes=int(args.max_upload_mb * 1_000_000))
    if not is_loopback(args.host) and not password:
        print(f"warning: listening on {args.host} without EVIDENCE_SEARCH_PASSWORD: upload and "
              "re-index are disabled on the page", file=sys.stderr)
    app = build_app(config)
    try:  # load the model now, so the first question is answered at full speed
        Index(args.index).search("warm up", k=1)
    except Exception as exc:
        print(f"note: {exc}", file=sys.stderr)
    print(f"Evidence search: http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
