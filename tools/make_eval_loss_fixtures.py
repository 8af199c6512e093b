#!/usr/bin/env python3
"""Generate the Python-reference fixtures for stc's eval-loss test
(tests/test_eval_loss.sh): SentenceTransformerTrainer's eval_loss before
training (eval_on_start) and after steps 2 and 4, for several losses.

Dev-only: needs /work/venv (torch, sentence-transformers 6.x, datasets).
For each case it writes, under tests/fixtures/train/eval/<case>/:

  config.json    the stc training config ("model" and "output_dir" are
                 given on the test's command line: tiny-bert with dropout
                 off, as here)
  train.jsonl    the training rows (batch = every row, so the order of
                 rows cannot matter)
  dev*.jsonl     the eval rows
  expected.json  {"eval": [{"step": s, "eval_loss" or "eval_<name>_loss": x}, ...]}

Why the results do not depend on batch order: Sentence Transformers draws
eval batches with the training batch sampler (random order); stc's RNG is
not torch's. So a case either evaluates in one batch (MNRL, CoSENT: the loss
of a batch does not depend on its row order) or uses a loss that is a mean
over rows (CosineSimilarityLoss, several batches).

Usage: /work/venv/bin/python tools/make_eval_loss_fixtures.py
       [--out tests/fixtures/train/eval] [--model tests/fixtures/encode/tiny-bert]
"""

import argparse
import json
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_train_fixtures import make_loss, nodropout_copy, write_expected  # noqa: E402

WORDS = ["cat", "dog", "river", "mountain", "music", "guitar", "ocean", "forest", "city", "train", "bread", "lamp"]


def pairs(n, off):
    return [{"anchor": f"a short sentence about the {WORDS[(i + off) % 12]} number {i + off}",
             "positive": f"{WORDS[(i + off) % 12]} {i + off}"} for i in range(n)]


def scored(n, off):
    return [{"sentence1": f"a note on the {WORDS[(i + off) % 12]} {i}",
             "sentence2": f"the {WORDS[(3 * i + off) % 12]} and more {i}",
             "score": ((7 * i + off) % 11) / 10.0} for i in range(n)]


COMMON = {"max_steps": 4, "learning_rate": 1e-3, "logging_steps": 1, "save_strategy": "no", "seed": 12,
          "eval_strategy": "steps", "eval_steps": 2, "eval_on_start": True}

# name -> (train rows, {eval name: rows} or rows, stc config additions)
CASES = {
    "mnrl": (pairs(8, 0), pairs(10, 20), {"loss": {"type": "MultipleNegativesRankingLoss"},
                                          "per_device_eval_batch_size": 10}),
    "cosent": (scored(8, 0), scored(10, 5), {"loss": {"type": "CoSENTLoss"}, "per_device_eval_batch_size": 10}),
    "cosine_batches": (scored(8, 0), scored(10, 5), {"loss": {"type": "CosineSimilarityLoss"},
                                                     "per_device_eval_batch_size": 4}),
    "mnrl_dict": (pairs(8, 0), {"near": pairs(6, 3), "far": pairs(7, 40)},
                  {"loss": {"type": "MultipleNegativesRankingLoss"}, "per_device_eval_batch_size": 8}),
}


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def run_case(name, train_rows, dev, extra, model_dir, work):
    from datasets import Dataset, DatasetDict
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)

    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = dict(COMMON, **extra)
    cfg.pop("loss")
    model = SentenceTransformer(model_dir, device="cpu")
    loss = make_loss(extra["loss"], model)
    to_ds = lambda rows: Dataset.from_dict({k: [r[k] for r in rows] for k in rows[0]})
    eval_ds = DatasetDict({k: to_ds(v) for k, v in dev.items()}) if isinstance(dev, dict) else to_ds(dev)
    args = SentenceTransformerTrainingArguments(
        output_dir=os.path.join(work, "py-out"), per_device_train_batch_size=len(train_rows),
        report_to="none", use_cpu=True, disable_tqdm=True, **cfg)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=to_ds(train_rows),
                                         eval_dataset=eval_ds, loss=loss)
    trainer.train()
    evals = {}
    for h in trainer.state.log_history:
        for k, v in h.items():
            if k.startswith("eval_") and k.endswith("_loss") or k == "eval_loss":
                evals.setdefault(h["step"], {})[k] = v
    return [dict({"step": s}, **evals[s]) for s in sorted(evals)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "train", "eval"))
    ap.add_argument("--model", default=os.path.join(here, "..", "tests", "fixtures", "encode", "tiny-bert"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        model_dir = os.path.join(work, "model")
        nodropout_copy(args.model, model_dir)
        for name, (train_rows, dev, extra) in CASES.items():
            d = os.path.join(args.out, name)
            os.makedirs(d, exist_ok=True)
            write_jsonl(os.path.join(d, "train.jsonl"), train_rows)
            if isinstance(dev, dict):
                eval_spec = {}
                for k, rows in dev.items():
                    write_jsonl(os.path.join(d, f"dev-{k}.jsonl"), rows)
                    eval_spec[k] = f"dev-{k}.jsonl"
            else:
                write_jsonl(os.path.join(d, "dev.jsonl"), dev)
                eval_spec = "dev.jsonl"
            cfg = {"model": "model", "train_dataset": "train.jsonl", "eval_dataset": eval_spec, "output_dir": "out",
                   "per_device_train_batch_size": len(train_rows)}
            cfg.update(COMMON)
            cfg.update(extra)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f, indent=1)
                f.write("\n")
            w = os.path.join(work, name)
            os.makedirs(w)
            evals = run_case(name, train_rows, dev, extra, model_dir, w)
            write_expected(d, {"case": name, "eval": evals})
            print(name, evals)


if __name__ == "__main__":
    main()
