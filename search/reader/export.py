"""Export a trained reader for CPU: ONNX, dynamic int8 quantisation, tokenizer, SHA256SUMS.

    python -m search.reader.export --checkpoint DIR/reader.pt --report DIR/report.json --out DIR

The span-margin weight of the shipped score is the one that did best on the held-out articles
(written to score.json, which inference reads and the checksums cover).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TOKENIZER_FILES = (
    "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
)
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUTS = ("relevance", "start", "end")


def best_span_weight(report: dict, key: str | None = None) -> tuple[float, str]:
    """The weight whose held-out trap AUC + own-vs-other AUC is highest (on `key`'s setting,
    by default the 2-sentence window at 64 tokens, the form the budget allows)."""
    val = report["val"]
    key = key or next((k for k in ("sentences2_len64", "sentences1_len64") if k in val),
                      next(iter(val)))
    weights = [k for k in val[key] if k.startswith("w")]
    best = max(weights, key=lambda w: val[key][w]["trap_auc"] + val[key][w]["own_vs_other_auc"])
    return float(best[1:]), key


def write_sums(folder: Path) -> None:
    """SHA256SUMS in `sha256sum` format, so `sha256sum -c` checks it as well."""
    lines = []
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.name != "SHA256SUMS":
            lines.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}")
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def export(checkpoint: Path, out: Path, report: dict, log: Callable[[str], None] = print) -> Path:
    """Write reader.onnx (int8), the tokenizer files, score.json and SHA256SUMS into `out`."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from search.reader.net import ReaderNet
    from search.reader.train import base_path

    out.mkdir(parents=True, exist_ok=True)
    net = ReaderNet(base_path())
    net.load_state_dict(torch.load(checkpoint, map_location="cpu"))
    net.eval()
    dummy = torch.ones(2, 16, dtype=torch.long)
    fp32 = out.parent / "reader-fp32.onnx"
    axes = {k: {0: "batch", 1: "tokens"} for k in (*INPUTS, "start", "end")}
    axes["relevance"] = {0: "batch"}
    torch.onnx.export(net, (dummy, dummy, dummy), str(fp32), input_names=list(INPUTS),
                      output_names=list(OUTPUTS), dynamic_axes=axes, opset_version=17,
                      dynamo=False)
    quantize_dynamic(str(fp32), str(out / "reader.onnx"), weight_type=QuantType.QInt8)
    base = Path(base_path())
    for name in TOKENIZER_FILES:
        shutil.copyfile(base / name, out / name)
    weight, key = best_span_weight(report)
    # inference reads --serve-len tokens (64 fits the latency budget; training used max_len)
    max_len = int(report["args"].get("serve_len", report["args"].get("max_len", 96)))
    (out / "score.json").write_text(json.dumps(
        {"span_weight": weight, "chosen_on": key, "max_len": max_len,
         "trained_len": int(report["args"].get("max_len", 96))}, indent=2) + "\n")
    write_sums(out)
    size = (out / "reader.onnx").stat().st_size / 2**20
    log(f"exported {out / 'reader.onnx'} ({size:.1f} MiB), span weight {weight} ({key})")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--report", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--span-weight", type=float, help="override the held-out choice")
    args = ap.parse_args(argv)
    report = json.loads(args.report.read_text())
    out = export(args.checkpoint, args.out, report)
    if args.span_weight is not None:
        cfg = json.loads((out / "score.json").read_text())
        cfg.update(span_weight=args.span_weight, chosen_on="override")
        (out / "score.json").write_text(json.dumps(cfg, indent=2) + "\n")
        write_sums(out)


if __name__ == "__main__":
    main()
