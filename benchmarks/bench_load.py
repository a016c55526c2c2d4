"""The page under load, and its cold start: the web app (app.py) on loopback, N clients
asking the page's search API back to back for S seconds; then how long a fresh app takes to
listen and to answer its first and second question, and a fresh process's first search.

    python benchmarks/bench_load.py [--clients 20] [--seconds 30] [--index index]
                                    [--client gradio|http]

Clients speak Gradio's HTTP protocol (POST /gradio_api/call/search, then the event stream),
as gradio_client does, from threads of this process; `--client gradio` uses gradio_client
itself (heavier on the client side: on 2 cores the clients take CPU from the server).
Results go to artifacts/bench/load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import cpu_times, save, steal_share  # noqa: E402

QUESTIONS = [json.loads(line)["question"] for line in
             (ROOT / "eval" / "corpus_queries.jsonl").read_text().splitlines()[:40]]

FRESH_RUNS = 3  # fresh processes timed for their first search


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

def start(index: str, port: int) -> tuple[subprocess.Popen, float, float]:
    """app.py serving `index` (not re-indexed); returns it, the seconds until it listens and
    the seconds until it prints its address (after answering its own first request)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--no-index", "--port", str(port),
                             "--index", index], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=os.environ.copy())
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            listening = time.perf_counter() - started
            break
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("app.py exited before it served") from None
            time.sleep(0.05)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Evidence search: http"):
            break
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # never block its writes
    return proc, listening, time.perf_counter() - started


def http_ask(client, base: str, question: str, session: str | None = None) -> dict:
    call = client.post(f"{base}/gradio_api/call/search",
                       json={"data": [question, 5, "hybrid", None],
                             **({"session_hash": session} if session else {})})
    call.raise_for_status()
    event = call.json()["event_id"]
    data = ""
    with client.stream("GET", f"{base}/gradio_api/call/search/{event}") as reply:
        kind = ""
        for line in reply.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                data = line.split(":", 1)[1].strip()
                break
    if kind != "complete":
        raise RuntimeError(f"{kind}: {data[:200]}")
    return json.loads(data)[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(base: str, clients: int, seconds: float, kind: str, server: int) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(n: int) -> None:
        if kind == "gradio":
            from gradio_client import Client

            client = Client(base + "/", verbose=False)

            def one(q: str) -> dict:
                return client.predict(q, 5, "hybrid", None, api_name="/search")
        else:
            import httpx

            session = httpx.Client(timeout=60)
            name = f"load-{n}-{time.time_ns()}"  # one session per client, as gradio_client

            def one(q: str) -> dict:
                return http_ask(session, base, q, name)
        i = n
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                result = one(QUESTIONS[i % len(QUESTIONS)])
                if not result["hits"]:
                    raise RuntimeError("no hits")
                with lock:
                    latencies.append(time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001 - every failure is counted
                with lock:
                    failures.append(repr(exc)[:200])
            i += clients

    ticks = cpu_times()
    began, cpu, mine = time.perf_counter(), cpu_seconds(server), cpu_seconds(os.getpid())
    threads = [threading.Thread(target=loop, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    cpu, mine = cpu_seconds(server) - cpu, cpu_seconds(os.getpid()) - mine
    latencies.sort()
    return {"clients": clients, "seconds": round(elapsed, 1), "client": kind,
            "requests": len(latencies), "failed": len(failures),
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000)
            if latencies else None,
            "server_cpu_ms_per_request": round(cpu / max(1, len(latencies)) * 1000, 1),
            "client_cpu_ms_per_request": round(mine / max(1, len(latencies)) * 1000, 1),
            "cpu_steal": steal_share(ticks, cpu_times()),
            "first_failures": failures[:3]}


def first_answers(index: str) -> dict:
    """A fresh app: seconds until it listens and until it says it is ready, then its first
    and second answers (ms); and a fresh Python process's first search (s), as the CLI's."""
    import httpx

    port = free_port()
    proc, listening, ready = start(index, port)
    try:
        with httpx.Client(timeout=60) as client:
            times = []
            for q in QUESTIONS[:2]:
                t = time.perf_counter()
                http_ask(client, f"http://127.0.0.1:{port}", q)
                times.append(round((time.perf_counter() - t) * 1000))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    script = ("import time; t = time.perf_counter()\nfrom search import Index\n"
              f"Index({index!r}).search({QUESTIONS[2]!r})\n"
              "print(round(time.perf_counter() - t, 2))")
    fresh, crashes = [], []
    for _ in range(FRESH_RUNS):
        # faulthandler: a process killed by a signal in native code says where, and the run
        # goes on; a Python error (a regression) still stops the benchmark
        run = subprocess.run([sys.executable, "-X", "faulthandler", "-c", script], cwd=ROOT,
                             capture_output=True, text=True)
        if run.returncode < 0:
            crashes.append(f"signal {-run.returncode}: " + " | ".join(
                line.strip() for line in run.stderr.splitlines()[-12:]))
            print(f"a fresh process's first search crashed ({crashes[-1]})", file=sys.stderr)
            continue
        if run.returncode:
            raise SystemExit(f"a fresh process's first search failed:\n{run.stderr}")
        fresh.append(float(run.stdout.split()[-1]))
    return {"app_seconds_to_listening": round(listening, 2),
            "app_seconds_to_ready": round(ready, 2), "app_first_answer_ms": times[0],
            "app_second_answer_ms": times[1],
            "fresh_process_first_search_s_median": statistics.median(fresh) if fresh else None,
            "fresh_processes": FRESH_RUNS, "fresh_process_failures": crashes}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} cores, {cpu}, {time.strftime('%Y-%m-%d')}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--index", default=str(ROOT / "index"))
    parser.add_argument("--client", choices=("http", "gradio"), default="http")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench" / "load.json")
    args = parser.parse_args()
    result = {"index": args.index, **first_answers(args.index)}
    port = free_port()
    proc, _, _ = start(args.index, port)
    try:
        result["load"] = load(f"http://127.0.0.1:{port}", args.clients, args.seconds,
                              args.client, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result["machine"] = machine()
    save(result, args.out)


if __name__ == "__main__":
    main()
