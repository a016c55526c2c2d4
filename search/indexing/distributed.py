"""Reading, chunking and embedding on a Ray cluster; the store is still written from here.

    evidence-search index corpus/ --ray              a private Ray instance on this machine
    evidence-search index corpus/ --ray HOST:6379    a running cluster (`ray start --head`)

Files are read and chunked by Ray tasks (one per file, each inside the usual PDF sandbox);
passages and their sentences are embedded by a pool of actors, one model each, in slices of
128 texts; results come back in order, so the index is the same as one built locally: the same
model, the same passage input, the same writer. Every worker must have this package and the
model installed (a cluster built from the same image, or `pip install` on each node), and on
several machines every node must see the files at the same path (a shared filesystem).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from search.config import Settings
from search.embed.embedder import get_embedder
from search.indexing.refresh import (
    MODEL_BATCH,
    Embedded,
    Prepared,
    ProgressHook,
    prepare_file,
)

SLICE = 128  # texts per actor call: ~1 s of work against ~1 ms of Ray overhead
OBJECT_STORE_BYTES = 200 * 1024 * 1024  # 10k passages' vectors are 15 MB; default: 30 % of RAM
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}  # workers never call the hub


class RayUnavailable(ConnectionError):
    """The Ray address given does not answer; the message says what to do."""


def _preflight(address: str) -> None:
    """Ray retries a dead address for minutes; a plain TCP connect says so at once."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--ray {address}: expected HOST:PORT (the head node's address, "
                             "port 6379 by default) or nothing to start Ray on this machine")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as exc:
        raise RayUnavailable(f"--ray {address}: no Ray cluster answers ({exc.strerror or exc}); "
                             "start one with `ray start --head` or check the address; nothing "
                             "was indexed") from None


def connect(address: str | None) -> bool:
    """Join the cluster at `address`, or start a private instance here when None. True when
    this call started Ray (and so must shut it down)."""
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "1")  # fail in seconds, not minutes
    token = Path.home() / ".ray" / "auth_token"
    if address and address != "auto" and token.exists():
        os.environ.setdefault("RAY_AUTH_MODE", "token")  # an explicit address sends no token
    import ray

    if ray.is_initialized():
        return False
    runtime = {"env_vars": OFFLINE}
    if not address:
        ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False,
                 object_store_memory=OBJECT_STORE_BYTES, log_to_driver=False,
                 logging_level="ERROR", runtime_env=runtime)
        return True
    if address != "auto":
        _preflight(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR",
                 runtime_env=runtime)
    except ConnectionError as exc:
        raise RayUnavailable(f"--ray {address}: could not join the Ray cluster ({exc}); check "
                             "the address and that `ray start --head` runs there; nothing was "
                             "indexed") from None
    return True


def _prepare(file: str, doc_id: str, settings: Settings) -> Prepared:
    return prepare_file(Path(file), doc_id, get_embedder(settings.model, "index",
                                                         settings.backend), settings)


class _Encoder:
    """One model per actor; Ray gives each actor one CPU and torch must be told so."""

    def __init__(self, settings: Settings, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.embedder = get_embedder(settings.model, "index", settings.backend)

    def encode(self, texts: list[str], heads: list[int],
               spans: list[list[tuple[int, int]]]) -> Embedded:
        return self.embedder.encode_with_sentences(texts, heads, spans, batch_size=MODEL_BATCH)


class RayWork:
    """refresh.Work on Ray: tasks read and chunk, an actor pool embeds."""

    def __init__(self, settings: Settings, address: str | None = None) -> None:
        self.settings = settings
        self.address = address
        self._actors: list[Any] = []
        self.started = connect(address)
        try:
            self.embedder = get_embedder(settings.model, "index", settings.backend)
        except BaseException:
            self.close()  # a private Ray instance must not outlive a failed start
            raise

    def prepare(self, todo: Sequence[tuple[Path, str]], progress: bool,
                on_progress: ProgressHook | None) -> list[Prepared]:
        import ray

        task = ray.remote(num_cpus=1, max_retries=1)(_prepare)
        refs = [task.remote(str(file), doc_id, self.settings) for file, doc_id in todo]
        self._gather(refs, "reading", progress, on_progress, fetch=False)
        out = []
        for ref in refs:  # one at a time: a worker lost on one file fails that file only
            try:
                out.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None) or exc
                out.append(Prepared(None, [], f"failed on a Ray worker ({type(cause).__name__}: "
                                              f"{str(cause).splitlines()[0][:200]})"))
        return out

    def embed(self, texts: list[str], heads: list[int], spans: list[list[tuple[int, int]]],
              progress: bool, on_progress: ProgressHook | None) -> Embedded:
        import ray

        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32), []
        if not self._actors:  # after the reading tasks: actors hold their CPU while alive
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            actor = ray.remote(num_cpus=1)(_Encoder)
            self._actors = [actor.remote(self.settings, 1) for _ in range(cpus)]
        starts = range(0, len(texts), SLICE)
        refs = [self._actors[n % len(self._actors)].encode.remote(
            texts[i:i + SLICE], heads[i:i + SLICE], spans[i:i + SLICE])
            for n, i in enumerate(starts)]
        parts = self._gather(refs, "embedding", progress, on_progress,
                             sizes=[len(texts[i:i + SLICE]) for i in starts])
        return (np.concatenate([vectors for vectors, _ in parts]),
                [s for _, per_text in parts for s in per_text])

    def _gather(self, refs: list[Any], stage: str, progress: bool,
                on_progress: ProgressHook | None, sizes: list[int] | None = None,
                fetch: bool = True) -> list[Any]:
        """Wait for every result, showing progress as they finish; the results in submission
        order when `fetch`."""
        import ray

        sizes = sizes or [1] * len(refs)
        total, done = sum(sizes), 0
        index = {ref: n for n, ref in enumerate(refs)}
        bar = tqdm(total=total, desc=f"{stage} on ray", unit="item", disable=not progress)
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                done += sizes[index[ref]]
                bar.update(sizes[index[ref]])
            if on_progress:
                on_progress(stage, done, total)
        bar.close()
        return ray.get(refs) if fetch else []

    def close(self) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self.started:
            ray.shutdown()


def ray_work(address: str | None) -> Any:
    """A refresh `work` factory for this Ray address (None: a private local instance)."""
    return lambda settings: RayWork(settings, address)
