#!/usr/bin/env python3
"""Generate the Python-reference fixtures for stc's Router tests.

Dev-only: needs /work/venv (torch, transformers, sentence-transformers); the
C test (tests/test_router.c) only reads what this writes. Output, under
tests/fixtures/router/:

  model/         a tiny asymmetric model saved by the installed
                 sentence-transformers (its own 6.x layout: router_config.json,
                 one folder per routed module, 6.x type names):
                   0: Router.for_query_document (default_route "document")
                        query:    Transformer (tiny BERT, weights A,
                                  max_seq_length 16), Pooling(mean,
                                  include_prompt=False)
                        document: Transformer (tiny BERT, weights B,
                                  max_seq_length 48), Pooling(cls),
                                  Dense(32 -> 32, Tanh)
                   1: Normalize
                 prompts {"query": "query: ", "document": "passage: "}
  expected.json  texts; the embeddings of encode() (no task),
                 encode(task="query"), encode_query() and encode_document()
                 computed from the reloaded directory; the model's
                 named_parameters() (names and shapes, in order).

The two BERTs reuse the tiny encode fixture (tests/fixtures/encode/tiny-bert:
vocabulary, tokenizer, config) with fresh seeded weights, so the routes
differ in weights, sequence length and pooling.

Deterministic: seeded weights, fixed texts, CPU float32, one thread.

Usage: /work/venv/bin/python tools/make_router_fixtures.py [--out tests/fixtures/router]
       /work/venv/bin/python tools/make_router_fixtures.py --verify DIR
           (loads DIR, e.g. a copy stc saved, with sentence-transformers and
           compares its embeddings with expected.json)
"""

import argparse
import json
import os
import re
import shutil
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures", "router")
TINY = os.path.join(REPO, "tests", "fixtures", "encode", "tiny-bert")
PROMPTS = {"query": "query: ", "document": "passage: "}

# Short and long texts (the long one passes the query route's 16 tokens),
# accents, the empty string.
TEXTS = [
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "",
    "Sentence embeddings map every sentence to a single dense vector, so that "
    "sentences with similar meanings end up close together.",
    "Café au lait, naïve résumé, crème brûlée in São Paulo.",
    "a",
    "How do I reset my password?",
]

# (case name, task, prompt name): the calls whose results the C test checks.
CASES = [
    ("encode", None, None),             # default route ("document")
    ("encode_task_query", "query", None),
    ("encode_query", "query", "query"),  # = encode_query(): prompt "query" + task
    ("encode_document", "document", "document"),
]


def randomize(module, seed):
    """Fresh weights in which every parameter matters (as the encode
    fixtures: N(0, 0.2), LayerNorm weights 1 + N(0, 0.3))."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            p.copy_(1.0 + 0.3 * noise if "LayerNorm.weight" in name else 0.2 * noise)


def stc_name(name):
    """6.x names the Transformer's model `model` ("0.sub_modules.query.0.model.
    embeddings..."); stc uses ST_SPEC's auto_model spelling, as 5.x did."""
    return re.sub(r"^(0\.sub_modules\.[^.]+\.\d+\.)model\.", r"\1auto_model.", name)


def encode_cases(model):
    out = {}
    for name, task, prompt_name in CASES:
        kw = {} if task is None else {"task": task}
        if name == "encode_query":
            emb = model.encode_query(TEXTS, convert_to_numpy=True, show_progress_bar=False)
        elif name == "encode_document":
            emb = model.encode_document(TEXTS, convert_to_numpy=True, show_progress_bar=False)
        else:
            emb = model.encode(TEXTS, convert_to_numpy=True, show_progress_bar=False, **kw)
        out[name] = dict(task=task, prompt=PROMPTS[prompt_name] if prompt_name else None,
                         embeddings=np.asarray(emb, dtype=np.float32))
    return out


def build(out_dir):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Router

    base_q = SentenceTransformer(TINY, device="cpu")
    base_d = SentenceTransformer(TINY, device="cpu")
    q, d = base_q[0], base_d[0]
    randomize(q, 101)
    randomize(d, 202)
    q.max_seq_length = 16
    d.max_seq_length = 48
    dense = Dense(32, 32, activation_function=torch.nn.Tanh())
    randomize(dense, 303)
    router = Router.for_query_document(
        query_modules=[q, Pooling(32, pooling_mode="mean", include_prompt=False)],
        document_modules=[d, Pooling(32, pooling_mode="cls"), dense])
    model = SentenceTransformer(modules=[router, Normalize()], prompts=PROMPTS, device="cpu")

    model_dir = os.path.join(out_dir, "model")
    if os.path.isdir(model_dir):
        shutil.rmtree(model_dir)
    model.save(model_dir)
    # The model card is large and says nothing a test reads.
    os.remove(os.path.join(model_dir, "README.md"))
    return model_dir


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--verify", metavar="DIR", help="compare DIR's embeddings with expected.json")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    import transformers
    import sentence_transformers
    transformers.logging.set_verbosity_error()
    from sentence_transformers import SentenceTransformer

    if args.verify:
        with open(os.path.join(args.out, "expected.json"), encoding="utf-8") as fh:
            exp = json.load(fh)
        model = SentenceTransformer(args.verify, device="cpu")
        got = encode_cases(model)
        worst = 0.0
        for name, rec in exp["cases"].items():
            diff = float(np.abs(got[name]["embeddings"] - np.asarray(rec["embeddings"], dtype=np.float32)).max())
            print(f"{name}: max abs diff {diff:.3g}")
            worst = max(worst, diff)
        print(f"worst {worst:.3g}")
        return 0 if worst <= 1e-5 else 1

    os.makedirs(args.out, exist_ok=True)
    model_dir = build(args.out)
    model = SentenceTransformer(model_dir, device="cpu")  # every reference from the reloaded dir
    model.eval()
    assert model.prompts == PROMPTS, model.prompts
    assert model[0].default_route == "document"

    cases = encode_cases(model)
    for a in cases:
        for b in cases:
            if a < b and not (a, b) == ("encode", "encode_task_query") and \
                    {a, b} != {"encode", "encode_document"}:
                assert not np.allclose(cases[a]["embeddings"], cases[b]["embeddings"]), (a, b)
    params = [dict(name=stc_name(n), shape=list(p.shape)) for n, p in model.named_parameters()]
    exp = {
        "meta": {"sentence_transformers": sentence_transformers.__version__, "torch": torch.__version__,
                 "transformers": transformers.__version__},
        "texts": TEXTS,
        "cases": {k: dict(task=v["task"], prompt=v["prompt"], embeddings=v["embeddings"].tolist())
                  for k, v in cases.items()},
        "params": params,
    }
    with open(os.path.join(args.out, "expected.json"), "w", encoding="utf-8") as fh:
        json.dump(exp, fh, ensure_ascii=False)
        fh.write("\n")
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.out) for f in fs)
    print(f"wrote {args.out} ({size / 1024:.0f} KiB), {len(params)} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
