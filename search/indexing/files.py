"""Which files an index holds and how it names them: scanning folders, stored paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from search.config import SIDECAR_SUFFIX


def stored_path(file: Path, base: Path) -> str:
    """How a document is named in the index: relative to `base` (the index folder's parent)
    when it lies inside it, so a cloned project keeps working; else absolute."""
    resolved = file.resolve()
    try:
        return resolved.relative_to(base).as_posix()
    except ValueError:
        return resolved.as_posix()


def resolve_stored(path: str, base: Path) -> Path:
    """The file a stored path names (see stored_path)."""
    p = Path(path)
    return p if p.is_absolute() else base / p


def scan(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every candidate file under the given files and folders, skipping hidden files and
    sidecar metadata; missing paths are reported, not fatal."""
    files: list[Path] = []
    failed: list[tuple[str, str]] = []
    for root in paths:
        if not root.exists():
            failed.append((str(root), "no such file or directory"))
        elif root.is_dir():
            for f in sorted(root.rglob("*")):
                rel = f.relative_to(root).parts
                if f.is_file() and not any(p.startswith(".") for p in rel) \
                        and not f.name.endswith(SIDECAR_SUFFIX):
                    files.append(f)
        else:
            files.append(root)
    return files, failed


def under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)
