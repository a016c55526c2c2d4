"""How a benchmark leaves its numbers: a JSON file under artifacts/bench/ (which README and
docs figures are copied from) and the same figures printed, machine last."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
