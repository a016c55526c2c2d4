"""What was fitted on the dev split and SciFact, per (model, reader): the confidence model's
coefficients and the ranking weights, kept together in calibration.json (eval/calibrate.py
and eval/tune.py write it; docs/EVALUATION.md says how)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

FITTED_FILE = Path(__file__).with_name("calibration.json")


def key(model: str, reader: str | None) -> str:
    """Where the file keeps a (model, reader) pair."""
    return f"{model} + {reader}" if reader else model


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    try:
        data = json.loads(FITTED_FILE.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def entry(model: str, reader: str | None = None) -> dict[str, Any] | None:
    """The pair's fitted values; for a reader nothing was fitted with, the model's own (the
    reader then has no say: its weight is 0); None where nothing was fitted for the model."""
    table = _table()
    found = table.get(key(model, reader))
    if not isinstance(found, dict) and reader:
        found = table.get(model)
    return found if isinstance(found, dict) else None


def write(model: str, reader: str | None, part: str, values: dict[str, Any]) -> None:
    """Store one part ("confidence" or "ranking") of a pair's entry, keeping the rest."""
    table = dict(_table())
    current = dict(table.get(key(model, reader)) or {})
    current[part] = values
    table[key(model, reader)] = current
    tmp = FITTED_FILE.with_name(f"{FITTED_FILE.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, FITTED_FILE)  # a crash mid-write leaves the last good file
    _table.cache_clear()
