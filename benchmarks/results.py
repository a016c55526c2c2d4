"""How a benchmark leaves its numbers: a JSON file under artifacts/bench/ (which README and
docs figures are copied from) and the same figures printed, machine last."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def cpu_times() -> list[int]:
    """The machine's CPU times (/proc/stat's first line: user ... steal), in ticks."""
    try:
        return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return []


def steal_share(before: list[int], after: list[int]) -> float | None:
    """The share of CPU time the hypervisor gave to other machines in between: a virtual
    machine's latencies rise with it, whatever the code does."""
    if len(before) < 8 or len(after) < 8 or sum(after) <= sum(before):
        return None
    return round((after[7] - before[7]) / (sum(after) - sum(before)), 3)


def save(result: dict[str, Any], out: Path, width: int = 28) -> Path:
    """Write `result` to `out` (a .json path) and print it one figure per line."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    for key, value in result.items():
        if key != "machine":
            print(f"{key:>{width}}: {value}")
    if "machine" in result:
        print(f"{'machine':>{width}}: {result['machine']}")
    print(f"written to {out}")
    return out
