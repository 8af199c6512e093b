#!/usr/bin/env python3
"""Generate the Python-reference fixtures for stc's optimizer test
(tests/test_optim.c): AdamW trajectories, schedule multipliers and
Sentence Transformers' learning_rate_mapping param groups.

Dev-only: needs /work/venv (torch, transformers, sentence-transformers);
the C test only reads what this writes, into tests/fixtures/optim/:

  adamw.json      {"meta", "cases": [case, ...]}; a case:
      {"name", "betas", "eps", "max_grad_norm" (0: no clipping),
       "scheduler": {"type", "T", "W", "kwargs"}, "base_lr",
       "weight_decay", "mapping": [[pattern, lr], ...],
       "sources": [{"prefix", "params": [[name, shape], ...]}, ...],
       "clipped_source": index of the source clip_grad_norm_ covers,
       "groups": [{"lr", "weight_decay", "params": [full names]}],
       "init": {full name: [floats]},
       "steps": [{"grads": {full name: [floats] | null (grad None)},
                  "grad_norm": float | null, "lrs": [lr per group],
                  "params": {full name: [floats]} (after the step)}],
       "final": {full name: {"step", "exp_avg", "exp_avg_sq"}}}
      The groups are the ones ST's trainer would build from
      (base_lr, weight_decay, mapping); the trajectory is torch.optim.AdamW
      (CPU, single-tensor path) driven by transformers.get_scheduler's
      LambdaLR, with torch.nn.utils.clip_grad_norm_ over the clipped
      source's parameters. Parameters named "*pooler*" never get a
      gradient; the loss-owned "classifier.weight" has none on some steps.

  schedules.json  {"meta", "schedules": [{"type", "T", "W", "base_lr",
       "kwargs", "lambdas": [lambda(k) for k = 0 .. T+3]}],
       "warmup": [{"T", "warmup_steps", "W"}]}: lambdas from the
      scheduler's own lr_lambdas[0]; W from TrainingArguments.get_warmup_steps.

  groups.json     {"meta", "cases": [{"name", "learning_rate",
       "weight_decay", "mapping": [[pattern, lr], ...],
       "sources": [{"prefix", "params": [[name, shape], ...]}],
       "groups": [{"lr", "weight_decay", "params": [full names]}]}]}:
      SentenceTransformerTrainer(...).create_optimizer() on the tiny BERT
      of tests/fixtures/encode/tiny-bert, names mapped back from
      loss_model.named_parameters(). The sources split those names into
      the ST model's (behind their prefix) and loss-owned ones.

Deterministic (seeded, CPU, one thread).

Usage: /work/venv/bin/python tools/make_optim_fixtures.py [--out tests/fixtures/optim]
"""

import argparse
import json
import os
import re
import tempfile
import warnings
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

import transformers
import sentence_transformers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures", "optim")
TINY_BERT = os.path.join(REPO, "tests", "fixtures", "encode", "tiny-bert")


def meta():
    return {
        "generator": "tools/make_optim_fixtures.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


# ---- (a) AdamW trajectories ---------------------------------------------

def adamw_case(name, rng, betas, eps, max_grad_norm, sched, base_lr, weight_decay, mapping,
               grad_scales, no_cls_grad_steps):
    """One trajectory. Model parameters get prefix "model."; the loss owns
    "classifier.weight" (no prefix). Groups follow ST's rules by hand."""
    model_params = [("0.a.weight", [4, 3]), ("0.a.bias", [5]), ("0.b.weight", [2, 2, 2]),
                    ("0.pooler.weight", [3])]
    loss_params = [("classifier.weight", [6])]
    sources = [{"prefix": "model.", "params": [[n, s] for n, s in model_params]},
               {"prefix": "", "params": [[n, s] for n, s in loss_params]}]
    names = ["model." + n for n, _ in model_params] + [n for n, _ in loss_params]
    shapes = [s for _, s in model_params] + [s for _, s in loss_params]
    P = OrderedDict()
    for n, s in zip(names, shapes):
        P[n] = nn.Parameter(torch.tensor(rng.standard_normal(s).astype(np.float32)))

    # ST's group rules (trainer.get_optimizer_cls_and_kwargs), written out.
    def decays(n):
        low = n.lower()
        return not any(re.search(p, low) for p in
                       [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"])
    groups = [{"names": [n for n in names if decays(n)], "lr": base_lr, "weight_decay": weight_decay},
              {"names": [n for n in names if not decays(n)], "lr": base_lr, "weight_decay": 0.0}]
    for pat, lr in mapping:
        m = [n for n in names if re.search(pat, n)]
        assert m, pat
        for g in groups:
            g["names"] = [n for n in g["names"] if n not in m]
        d = [n for n in m if decays(n)]
        nd = [n for n in m if not decays(n)]
        if d:
            groups.append({"names": d, "lr": lr, "weight_decay": weight_decay})
        if nd:
            groups.append({"names": nd, "lr": lr, "weight_decay": 0.0})

    opt = torch.optim.AdamW([{"params": [P[n] for n in g["names"]], "lr": g["lr"],
                              "weight_decay": g["weight_decay"]} for g in groups],
                            lr=base_lr, betas=betas, eps=eps, weight_decay=weight_decay)
    scheduler = transformers.get_scheduler(sched["type"], opt, num_warmup_steps=sched["W"],
                                           num_training_steps=sched["T"],
                                           scheduler_specific_kwargs=sched["kwargs"])
    case = {"name": name, "betas": list(betas), "eps": eps, "max_grad_norm": max_grad_norm,
            "scheduler": sched, "base_lr": base_lr, "weight_decay": weight_decay,
            "mapping": [[p, lr] for p, lr in mapping], "sources": sources, "clipped_source": 0,
            "groups": [{"lr": g["lr"], "weight_decay": g["weight_decay"], "params": g["names"]}
                       for g in groups],
            "init": {n: flat(p) for n, p in P.items()}, "steps": []}
    model_names = names[:len(model_params)]
    for step, scale in enumerate(grad_scales):
        grads = {}
        for n, p in P.items():
            if "pooler" in n or (n == "classifier.weight" and step in no_cls_grad_steps):
                p.grad = None
                grads[n] = None
            else:
                g = torch.tensor((scale * rng.standard_normal(list(p.shape))).astype(np.float32))
                p.grad = g.clone()
                grads[n] = flat(g)
        grad_norm = None
        if max_grad_norm > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_([P[n] for n in model_names], max_grad_norm))
        opt.step()
        lrs = [float(g["lr"]) for g in opt.param_groups]  # = get_last_lr() before scheduler.step
        scheduler.step()
        case["steps"].append({"grads": grads, "grad_norm": grad_norm, "lrs": lrs,
                              "params": {n: flat(p) for n, p in P.items()}})
    final = {}
    for n, p in P.items():
        st = opt.state.get(p)
        if st:
            final[n] = {"step": float(st["step"]), "exp_avg": flat(st["exp_avg"]),
                        "exp_avg_sq": flat(st["exp_avg_sq"])}
    case["final"] = final
    return case


def make_adamw(out):
    rng = np.random.default_rng(1234)
    cases = [
        adamw_case("linear_warmup_clip", rng, (0.9, 0.999), 1e-8, 1.0,
                   {"type": "linear", "T": 10, "W": 3, "kwargs": {}}, 1e-2, 0.1,
                   [("b\\.weight", 5e-2), ("classifier", 2e-2)],
                   [0.05, 0.3, 1.0, 0.1, 0.5, 2.0, 0.02, 0.4, 0.15, 1.5], {3, 6}),
        adamw_case("restarts_noclip_betas", rng, (0.8, 0.99), 1e-6, 0.0,
                   {"type": "cosine_with_restarts", "T": 10, "W": 2, "kwargs": {"num_cycles": 2}}, 3e-2, 0.01,
                   [("a\\.", 1e-1)],
                   [1.0, 0.5, 2.0, 0.7, 1.2, 0.9, 3.0, 0.1, 0.6, 1.1], {0, 5, 9}),
    ]
    with open(os.path.join(out, "adamw.json"), "w") as f:
        json.dump({"meta": meta(), "cases": cases}, f)


# ---- (b) schedules --------------------------------------------------------

def make_schedules(out):
    base_lr = 1e-3
    specs = [
        ("linear", 20, 3, {}), ("linear", 20, 0, {}), ("linear", 3, 3, {}), ("linear", 5, 8, {}),
        ("cosine", 20, 3, {}), ("cosine", 20, 3, {"num_cycles": 1.5}), ("cosine", 20, 0, {}),
        ("cosine_with_restarts", 20, 3, {}), ("cosine_with_restarts", 20, 3, {"num_cycles": 3}),
        ("cosine_with_restarts", 20, 4, {"num_cycles": 2.5}),
        ("polynomial", 20, 3, {}), ("polynomial", 20, 3, {"lr_end": 1e-5, "power": 2.0}),
        ("polynomial", 20, 0, {"power": 0.5}), ("polynomial", 5, 8, {}),
        ("constant", 20, 3, {}), ("constant_with_warmup", 20, 3, {}), ("constant_with_warmup", 20, 0, {}),
    ]
    schedules = []
    for typ, T, W, kw in specs:
        p = nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([p], lr=base_lr)
        s = transformers.get_scheduler(typ, opt, num_warmup_steps=W, num_training_steps=T,
                                       scheduler_specific_kwargs=dict(kw))
        lam = s.lr_lambdas[0]
        schedules.append({"type": typ, "T": T, "W": W, "base_lr": base_lr, "kwargs": kw,
                          "lambdas": [float(lam(k)) for k in range(T + 4)]})
    warm = []
    with tempfile.TemporaryDirectory() as tmp:
        for T, ws in [(30, 0.1), (100, 0.07), (7, 0.1), (20, 3), (20, 2.7), (20, 0), (50, 0.06), (1000, 0.03)]:
            a = transformers.TrainingArguments(output_dir=tmp, warmup_steps=ws, report_to=[])
            warm.append({"T": T, "warmup_steps": ws, "W": a.get_warmup_steps(T)})
    with open(os.path.join(out, "schedules.json"), "w") as f:
        json.dump({"meta": meta(), "schedules": schedules, "warmup": warm}, f)


# ---- (c) ST param groups --------------------------------------------------

def st_groups_case(name, learning_rate, weight_decay, mapping, multi):
    from datasets import Dataset, DatasetDict
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer import losses as L

    model = SentenceTransformer(TINY_BERT, device="cpu")
    pairs = Dataset.from_dict({"anchor": ["a b", "c d"], "positive": ["b a", "d c"]})
    if multi:
        nli = Dataset.from_dict({"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [0, 2]})
        train = DatasetDict({"alpha": pairs, "beta": nli})
        loss = {"alpha": L.MultipleNegativesRankingLoss(model),
                "beta": L.SoftmaxLoss(model, model.get_sentence_embedding_dimension(), num_labels=3)}
    else:
        train = pairs
        loss = L.MultipleNegativesRankingLoss(model)
    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, learning_rate=learning_rate, weight_decay=weight_decay,
            learning_rate_mapping=OrderedDict(mapping), report_to=[], use_cpu=True)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train, loss=loss)
        opt = trainer.create_optimizer()
        loss_model = nn.Sequential(OrderedDict(trainer.loss)) if isinstance(trainer.loss, dict) else trainer.loss
        named = list(loss_model.named_parameters())
        by_id = {id(p): n for n, p in named}
        groups = [{"lr": float(g["lr"]), "weight_decay": float(g["weight_decay"]),
                   "params": [by_id[id(p)] for p in g["params"]]} for g in opt.param_groups]
    # Split the names into the ST model's run (one prefix) and loss-owned runs.
    model_ids = {id(p) for p in model.parameters()}
    sources = []
    for n, p in named:
        if id(p) in model_ids:
            inner = dict(model.named_parameters())
            prefix = next(n[:-len(k)] for k in inner if n.endswith(k) and inner[k] is p)
        else:
            prefix = n[:n.index("classifier")]
        if sources and sources[-1]["prefix"] == prefix and (id(p) in model_ids) == sources[-1]["model"]:
            sources[-1]["params"].append([n[len(prefix):], list(p.shape)])
        else:
            sources.append({"prefix": prefix, "model": id(p) in model_ids,
                            "params": [[n[len(prefix):], list(p.shape)]]})
    for s in sources:
        del s["model"]
    return {"name": name, "learning_rate": learning_rate, "weight_decay": weight_decay,
            "mapping": [[p, lr] for p, lr in mapping], "sources": sources, "groups": groups}


def make_groups(out):
    cases = [
        st_groups_case("single_loss_overlap", 2e-5, 0.01,
                       [("encoder\\.layer\\.1\\.", 1e-3), ("embeddings\\.", 5e-6),
                        ("layer\\.1\\.attention", 7e-4)], multi=False),
        st_groups_case("loss_dict_emptied_groups", 5e-5, 0.1,
                       [("pooler\\.dense\\.bias", 1e-3), ("pooler", 2e-3), ("classifier", 1e-2),
                        ("(?P<ln>LayerNorm)\\.weight\\Z", 3e-4), ("layer\\.[0-9]{,1}\\.output\\.dense", 4e-4)],
                       multi=True),
        st_groups_case("match_all", 5e-5, 0.0, [(".", 1e-4), ("^model\\.0\\.[a-z_]+\\.embeddings", 2e-4)],
                       multi=False),
    ]
    with open(os.path.join(out, "groups.json"), "w") as f:
        json.dump({"meta": meta(), "cases": cases}, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    make_adamw(a.out)
    make_schedules(a.out)
    make_groups(a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
