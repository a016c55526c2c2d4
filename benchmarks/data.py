"""Where the benchmarks' data lives: the shared data folder beside the clone (real PDFs in
pdfs/, SciFact and SQuAD in bench/), or wherever EVIDENCE_SEARCH_SHARED points."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EVIDENCE_SEARCH_SHARED", ROOT.parent / "shared"))
PDFS = SHARED / "pdfs"
SCIFACT = SHARED / "bench" / "scifact"
