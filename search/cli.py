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
import time
from pathlib import Path

from search.config import (
    DEFAULT_CORPUS_DIR,
    DEFAULT_INDEX_DIR,
    ENV_INDEX,
    ENV_STORE,
    Settings,
    canonical_model,
    default_backend,
    default_model,
    default_store,
)
from search.index import Index, QueryError
from search.records import Filters, Hit, IndexStats
from search.retrieve.confidence import results_weak
from search.retrieve.query import MODES, Fusion
from search.store import IndexError_


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _filters(args: argparse.Namespace) -> Filters:
    pages = None
    if args.pages:
        low, _, high = args.pages.partition("-")
        try:
            pages = (int(low), int(high or low))
        except ValueError:
            raise QueryError(f"--pages: expected N or N-M, got {args.pages!r}") from None
    return Filters(documents=args.doc or None, title=args.title, section=args.section,
                   pages=pages, date_from=args.since, date_to=args.until)


def _marked(hit: Hit, tty: bool) -> str:
    """The passage with its answering sentences marked: bold on a terminal, »…« otherwise."""
    text, out, last = hit.text, [], 0
    on, off = ("\033[1m", "\033[0m") if tty else ("»", "«")
    for start, end in sorted(hit.highlights):
        out += [text[last:start], on, text[start:end], off]
        last = end
    out.append(text[last:])
    return " ".join("".join(out).split())


def cmd_query(args: argparse.Namespace) -> int:
    index = Index(args.index)
    hits = index.search(args.question, k=args.k, mode=args.mode, filters=_filters(args),
                        highlight=not args.no_highlight, fusion=_fusion(args))
    if args.json:
        for hit in hits:
            print(json.dumps(hit.to_dict(), ensure_ascii=False))
        return 0
    if not hits:
        print("No passages match (the index is empty, or the filters exclude everything).")
        return 0
    if results_weak(hits):
        print("Nothing in the documents answers this well; the closest passages are below.\n")
    tty = sys.stdout.isatty()
    width = min(100, max(60, os.get_terminal_size(1).columns if tty else 100))
    for hit in hits:
        print(f"{hit.rank}. [{hit.match}] {hit.citation}"
              + (" [from OCR: check the quote against the page]" if hit.ocr else ""))
        print(textwrap.fill(_marked(hit, tty), width=width, initial_indent="   ",
                            subsequent_indent="   "))
        print()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from search.evaluate import (
        beir_index,
        evaluate_beir,
        evaluate_questions,
        load_beir,
        load_questions,
    )

    modes = MODES if args.mode == "all" else (args.mode,)
    results: dict[str, dict[str, float]] = {}
    if args.beir:
        started = time.perf_counter()
        data = load_beir(args.beir)
        cache = Path(args.index) if args.index_given else Path(DEFAULT_INDEX_DIR)
        index, built = beir_index(data, args.beir, cache, _eval_settings(args),
                                  progress=not args.quiet)
        what = "built" if built else "cached"
        print(f"{data.name}: {len(data.documents)} documents, {len(data.queries)} queries; "
              f"index {what} at {index.location} in {time.perf_counter() - started:.1f}s")
        for mode in modes:
            results[mode] = evaluate_beir(index, data, mode, k=args.k, fusion=_fusion(args))
    else:
        index = Index(args.index)
        questions = load_questions(args.queries, index, args.split)
        print(f"{args.queries} ({args.split}): {len(questions)} questions "
              f"({sum(q.answerable for q in questions)} answerable) over {index.location}")
        tables = {mode: evaluate_questions(index, questions, mode, fusion=_fusion(args))
                  for mode in modes}
        if args.json:
            print(json.dumps(tables, indent=2))
            return 0
        for mode, table in tables.items():
            print(f"\n{mode}")
            _print_table(table, "kind")
        return 0
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    _print_table(results, "mode")
    return 0


def _print_table(rows: dict[str, dict[str, float]], first: str) -> None:
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    print(f"| {first} | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in rows.items():
        cells = []
        for column in columns:
            v = row.get(column)
            cells.append("" if v is None else f"{v:.0f}" if column in ("questions", "queries") else
                         f"{v:.1f}" if column == "ms/query" else f"{v:.4f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def _fusion(args: argparse.Namespace) -> Fusion:
    default = Fusion()
    return Fusion(method=args.fusion or default.method,
                  rrf_k=args.rrf_k if args.rrf_k is not None else default.rrf_k,
                  weight=args.weight if args.weight is not None else default.weight,
                  rerank=not args.no_rerank)


def _eval_settings(args: argparse.Namespace) -> Settings:
    return Settings(model=args.model or default_model(),
                    chunk_tokens=args.chunk_tokens or Settings().chunk_tokens,
                    backend=default_backend())


def cmd_index(args: argparse.Namespace) -> int:
    index = Index(args.index, model=canonical_model(args.model) if args.model else None,
                  chunk_tokens=args.chunk_tokens)
    paths = args.paths or None
    report = index.refresh(paths, rebuild=args.rebuild, progress=not args.quiet,
                           ray=args.ray)
    for path, note in report.notes:
        print(f"note: {path}: {note}", file=sys.stderr)
    for path, reason in report.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    print(report.summary())
    index.wait_for_merges()  # a merge it started finishes before the command returns
    return 1 if report.failed else 0


def cmd_optimize(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    done = Index(args.index).optimize(full=args.full)
    if done is None:
        print("nothing to merge")
    else:
        print(f"merged {done.merged} segments into one {done.kind} segment of "
              f"{done.vectors} vectors ({done.dropped} deleted dropped) in "
              f"{time.perf_counter() - started:.1f}s")
    return 0


def _segments_line(stats: IndexStats) -> str:
    if stats.engine != "local":
        return f"held by {stats.engine}"
    parts = ", ".join(f"{s.kind} {s.vectors:,}" for s in stats.segments) or "none"
    return f"{len(stats.segments)} segments ({parts}); {stats.tombstones:,} deleted"


def cmd_info(args: argparse.Namespace) -> int:
    index = Index(args.index)
    stats = index.stats()
    docs = index.documents()
    if args.json:
        data = stats.to_dict()
        data["documents_list"] = [{"doc_id": d.doc_id, "title": d.title, "pages": d.page_count,
                                   "chunks": d.chunks} for d in docs]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    rows = [
        ("index", f"{stats.location} ({stats.engine}, {stats.generation})"),
        ("documents", str(stats.documents)),
        ("pages", str(stats.pages)),
        ("chunks", str(stats.chunks)),
        ("vectors", _segments_line(stats)),
        ("model", f"{stats.model} ({stats.dimension} dimensions, {stats.backend})"),
        ("chunk budget", f"{stats.chunk_tokens} word-pieces"),
        ("built at", str(stats.built_at)),
        ("size on disk", _human(stats.size_bytes) if stats.size_bytes is not None else "-"),
        ("sources", ", ".join(stats.sources) or "-"),
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


def _fusion_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fusion", choices=["adaptive", "rrf", "weighted"],
                        help="hybrid fusion: adaptive (default: the lexical list counts as much "
                             "as the question's evidence for it), fixed-weight reciprocal rank, "
                             "or weighted scores")
    parser.add_argument("--weight", type=float,
                        help="semantic share for rrf/weighted (default 0.5)")
    parser.add_argument("--rrf-k", type=int, help="RRF constant (default 60)")
    parser.add_argument("--no-rerank", action="store_true",
                        help="skip the final ranking stage (for comparison)")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", "--store", dest="index", default=argparse.SUPPRESS,
                        metavar="DIR|URI",
                        help=f"index folder, or a Milvus store: milvus:///path/file.db (Milvus "
                             f"Lite) or http://host:19530 (default: ${ENV_STORE}, ${ENV_INDEX} "
                             "or index/)")
    parser = argparse.ArgumentParser(
        prog="evidence-search", parents=[common],
        description="Find the passages in your evidence documents that answer a question.")
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("query", parents=[common], help="ranked passages with citations")
    q.add_argument("question")
    q.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    q.add_argument("--json", action="store_true", help="one JSON object per hit, per line")
    q.add_argument("--mode", choices=MODES, default="hybrid",
                   help="hybrid (default): meaning and exact words; semantic; lexical")
    q.add_argument("--doc", action="append", metavar="DOC_ID",
                   help="only this document (doc id or path; repeatable)")
    q.add_argument("--title", help="only documents whose title contains this")
    q.add_argument("--section", help="only passages whose section path contains this")
    q.add_argument("--pages", metavar="N[-M]", help="only passages on these pages")
    q.add_argument("--since", metavar="DATE", help="only documents dated on or after (ISO)")
    q.add_argument("--until", metavar="DATE", help="only documents dated on or before (ISO)")
    q.add_argument("--no-highlight", action="store_true", help="skip answer highlighting")
    _fusion_options(q)
    q.set_defaults(func=cmd_query)

    i = sub.add_parser("index", parents=[common], help="add, update and remove documents")
    i.add_argument("paths", nargs="*", type=Path,
                   help=f"files or folders (default: those indexed before, else "
                        f"{DEFAULT_CORPUS_DIR}/)")
    i.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    i.add_argument("--model", metavar="fast|quality|NAME",
                   help="fast (all-MiniLM-L6-v2), quality (all-mpnet-base-v2, installed by "
                        "`make install`) or a sentence-transformers name or path; with "
                        "--rebuild to change an existing index")
    i.add_argument("--chunk-tokens", type=int, help="word-pieces per passage (default 200)")
    i.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="read, chunk and embed on Ray: alone, a private instance on this "
                        "machine; with HOST:PORT, a running cluster (docs/SCALING.md)")
    i.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    i.set_defaults(func=cmd_index)

    e = sub.add_parser("eval", parents=[common], help="measure search quality")
    source = e.add_mutually_exclusive_group(required=True)
    source.add_argument("--beir", type=Path, metavar="DIR",
                        help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv); its "
                             "index is cached under the index directory")
    source.add_argument("--queries", type=Path, metavar="FILE",
                        help="JSON lines: question, answers (verbatim spans), kind")
    e.add_argument("--split", choices=["dev", "test", "all"], default="all",
                   help="with --queries: the dev or test half (fixed by a hash of the question)")
    e.add_argument("--mode", choices=[*MODES, "all"], default="all")
    e.add_argument("-k", type=int, default=10, help="cut-off for nDCG and MRR (default 10)")
    e.add_argument("--model", metavar="fast|quality|NAME",
                   help="model for a BEIR index: fast, quality or a sentence-transformers name "
                        "or path (default: the default model)")
    e.add_argument("--chunk-tokens", type=int)
    e.add_argument("--json", action="store_true")
    _fusion_options(e)
    e.add_argument("-q", "--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)

    o = sub.add_parser("optimize", parents=[common],
                       help="merge vector segments now (re-indexing merges when needed)")
    o.add_argument("--full", action="store_true",
                   help="merge everything into one segment, dropping deleted vectors")
    o.set_defaults(func=cmd_optimize)

    n = sub.add_parser("info", parents=[common], help="what the index holds")
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.index_given = hasattr(args, "index")
    if not args.index_given:
        args.index = default_store()
    try:
        return int(args.func(args))
    except (QueryError, IndexError_, ValueError, FileNotFoundError, ConnectionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, file too large, permissions: nothing was swapped in
        where = f" {exc.filename}:" if exc.filename else ""
        print(f"error:{where} could not write the index ({exc.strerror or exc}); the previous "
              "index is unchanged", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the previous index is unchanged", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
