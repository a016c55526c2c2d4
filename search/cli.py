"""`evidence-search`: query, index and inspect from the command line.

Exit status: 0 success; 1 some files could not be indexed (the rest were); 2 bad usage, an
empty query, or an index that is missing, corrupt or built with other settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

from .config import DEFAULT_CORPUS_DIR, ENV_INDEX, default_index_dir
from .index import Index, QueryError
from .store import IndexError_


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def cmd_query(args: argparse.Namespace) -> int:
    index = Index(args.index)
    hits = index.search(args.question, k=args.k)
    if args.json:
        for hit in hits:
            print(json.dumps(hit.to_dict(), ensure_ascii=False))
        return 0
    if not hits:
        print("No passages found: the index is empty.")
    width = min(100, max(60, os.get_terminal_size(1).columns if sys.stdout.isatty() else 100))
    for hit in hits:
        print(f"{hit.rank}. [{hit.score:.3f}] {hit.citation}")
        body = " ".join(hit.text.split())
        print(textwrap.fill(body, width=width, initial_indent="   ", subsequent_indent="   "))
        print()
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    index = Index(args.index, model=args.model, chunk_tokens=args.chunk_tokens)
    paths = args.paths or None
    report = index.refresh(paths, rebuild=args.rebuild, progress=not args.quiet)
    for path, reason in report.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    print(report.summary())
    return 1 if report.failed else 0


def cmd_info(args: argparse.Namespace) -> int:
    index = Index(args.index)
    stats = index.stats()
    docs = index.documents()
    if args.json:
        stats["documents_list"] = [{"doc_id": d.doc_id, "title": d.title, "pages": d.page_count,
                                    "chunks": d.chunks} for d in docs]
        print(json.dumps(stats, indent=2, ensure_ascii=False))
        return 0
    rows = [
        ("index", f"{stats['directory']} ({stats['generation']})"),
        ("documents", str(stats["documents"])),
        ("pages", str(stats["pages"])),
        ("chunks", str(stats["chunks"])),
        ("model", f"{stats['model']} ({stats['dimension']} dimensions)"),
        ("chunk budget", f"{stats['chunk_tokens']} word-pieces"),
        ("built at", str(stats["built_at"])),
        ("size on disk", _human(stats["size_bytes"])),
        ("sources", ", ".join(stats["sources"]) or "-"),
    ]
    for key, value in rows:
        print(f"{key:>13}: {value}")
    if docs:
        print()
        for doc in docs[:50]:
            pages = f"{doc.page_count} p." if doc.page_count else "no pages"
            print(f"  {doc.title}  [{pages}, {doc.chunks} chunks]  {doc.doc_id}")
        if len(docs) > 50:
            print(f"  … and {len(docs) - 50} more (use --json for all)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", type=Path, default=argparse.SUPPRESS, metavar="DIR",
                        help=f"index directory (default: ${ENV_INDEX} or index/)")
    parser = argparse.ArgumentParser(
        prog="evidence-search", parents=[common],
        description="Find the passages in your evidence documents that answer a question.")
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("query", parents=[common], help="ranked passages with citations")
    q.add_argument("question")
    q.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    q.add_argument("--json", action="store_true", help="one JSON object per hit, per line")
    q.set_defaults(func=cmd_query)

    i = sub.add_parser("index", parents=[common], help="add, update and remove documents")
    i.add_argument("paths", nargs="*", type=Path,
                   help=f"files or folders (default: those indexed before, else "
                        f"{DEFAULT_CORPUS_DIR}/)")
    i.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    i.add_argument("--model", help="sentence-transformers model name or path (with --rebuild "
                                   "to change an existing index)")
    i.add_argument("--chunk-tokens", type=int, help="word-pieces per passage (default 200)")
    i.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    i.set_defaults(func=cmd_index)

    n = sub.add_parser("info", parents=[common], help="what the index holds")
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "index"):
        args.index = default_index_dir()
    try:
        return int(args.func(args))
    except (QueryError, IndexError_) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the previous index is unchanged", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
