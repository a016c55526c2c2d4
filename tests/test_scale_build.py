"""The scale benchmark's synthetic build (benchmarks/bench_scale.py --build): it commits at
each checkpoint, so a build killed or stopped by a full disk keeps a whole, searchable index
of its last checkpoint, and the same command goes on from there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from search import Index

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "EVIDENCE_SEARCH_MODEL": "fast"}  # synthetic vectors are 384-d


def build(directory: Path, size: int, limit_bytes: int | None = None,
          background: bool = False):
    prefix = ("import resource, runpy, signal, sys; "
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes})); "
              if limit_bytes else "import runpy, sys; ")
    code = prefix + "runpy.run_path('benchmarks/bench_scale.py', run_name='__main__')"
    args = [sys.executable, "-c", code, "--build", str(directory), "--size", str(size),
            "--checkpoint", "1000", "--real", str(directory.parent / "no-real-index")]
    if background:
        return subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=600)


def progress(directory: Path) -> int:
    path = directory.parent / f"{directory.name}.progress.json"
    return json.loads(path.read_text())["done"] if path.exists() else 0


def searchable(directory: Path) -> int:
    index = Index(directory)
    assert index.search("cell biology of the immune response", k=3, highlight=False)
    return index.stats().chunks


def test_a_build_stopped_by_a_full_disk_keeps_its_last_checkpoint_and_resumes(tmp_path):
    directory = tmp_path / "synthetic"
    # files may not grow past 2 MB: the catalogue's log passes that at the third checkpoint
    stopped = build(directory, 4000, limit_bytes=2_000_000)
    assert stopped.returncode == 2, stopped.stderr
    message = stopped.stderr.strip().splitlines()[-1]
    assert message.startswith("error:") and "could not write the index" in message
    assert "Traceback" not in stopped.stderr
    kept = searchable(directory)
    assert kept == progress(directory) and 1000 <= kept < 4000
    assert f"{kept:,} passages of its last checkpoint" in message
    resumed = build(directory, 4000)
    assert resumed.returncode == 0, resumed.stderr
    built = [json.loads(line)["built"] for line in resumed.stdout.splitlines()]
    assert built[0] == kept + 1000 and built[-1] == 4000  # went on, did not start again
    assert searchable(directory) == 4000


def test_a_build_killed_part_way_keeps_its_last_checkpoint_and_resumes(tmp_path):
    directory = tmp_path / "synthetic"
    running = build(directory, 12_000, background=True)
    deadline = time.monotonic() + 300
    while progress(directory) < 2000 and time.monotonic() < deadline:
        time.sleep(0.2)
    running.send_signal(signal.SIGKILL)
    running.wait(30)
    kept = searchable(directory)
    # killed after a commit and before its progress line, the index holds one step more
    assert 2000 <= kept < 12_000 and kept - progress(directory) in (0, 1000)
    finished = build(directory, 12_000)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout.splitlines()[0])["built"] == kept + 1000
    assert searchable(directory) == 12_000
