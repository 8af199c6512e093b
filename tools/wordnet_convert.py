#!/usr/bin/env python3
"""Build stc's demo datasets from Debian's wordnet-base (WordNet 3.0).

Every synset gives one (definition, words) pair: the anchor is the gloss's
definition (the text before its quoted examples), the positive is the
synset's words joined with ", " (underscores become spaces, adjective
markers such as "(a)" dropped). Synsets are split into train / dev / test by
a hash of "<pos>:<offset>", so the split never changes between runs or
machines (about 90 / 5 / 5 %).

Output (in OUT_DIR):
  train.jsonl                      {"anchor": definition, "positive": words}
  dev/queries.jsonl, dev/corpus.jsonl, dev/qrels/dev.tsv      (BEIR layout)
  test/queries.jsonl, test/corpus.jsonl, test/qrels/test.tsv
In the IR sets a query is a definition and the corpus holds the split's
distinct words (one document per word); a query's relevant documents are its
synset's words.

usage: wordnet_convert.py OUT_DIR [--wordnet /usr/share/wordnet]
Standard library only; runs with any python3.
"""

import argparse
import hashlib
import json
import os
import re
import sys

PARTS = (("noun", "n"), ("verb", "v"), ("adj", "a"), ("adv", "r"))
MARKER = re.compile(r"\((a|p|ip)\)$")


def split_of(pos, offset):
    """train / dev / test from a stable hash of the synset's identity."""
    h = int.from_bytes(hashlib.sha256(f"{pos}:{offset}".encode()).digest()[:8], "big") % 100
    return "train" if h < 90 else ("dev" if h < 95 else "test")


def definition_of(gloss):
    """The gloss up to its first quoted example."""
    cut = gloss.find('; "')
    if cut < 0 and gloss.startswith('"'):
        return ""
    text = gloss if cut < 0 else gloss[:cut]
    return text.strip().rstrip(";").strip()


def read_synsets(wordnet_dir):
    for part, pos in PARTS:
        path = os.path.join(wordnet_dir, f"data.{part}")
        try:
            fh = open(path, encoding="utf-8", errors="replace")
        except OSError as exc:
            sys.exit(f"wordnet_convert: cannot open {path}: {exc} (install Debian's wordnet-base)")
        with fh:
            for lineno, line in enumerate(fh, 1):
                if line.startswith("  "):
                    continue  # license header
                head, sep, gloss = line.rstrip("\n").partition(" | ")
                fields = head.split()
                if not sep or len(fields) < 4:
                    sys.exit(f"wordnet_convert: {path}:{lineno}: not a synset line")
                offset, n_words = fields[0], int(fields[3], 16)
                words = []
                for i in range(n_words):
                    w = MARKER.sub("", fields[4 + 2 * i]).replace("_", " ")
                    if w not in words:
                        words.append(w)
                d = definition_of(gloss)
                if d and words:
                    yield pos, offset, d, words


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_ir(out_dir, name, synsets):
    d = os.path.join(out_dir, name)
    os.makedirs(os.path.join(d, "qrels"), exist_ok=True)
    corpus_ids = {}
    queries, qrels = [], []
    for pos, offset, definition, words in synsets:
        qid = f"{pos}{offset}"
        queries.append({"_id": qid, "text": definition})
        for w in words:
            if w not in corpus_ids:
                corpus_ids[w] = f"w{len(corpus_ids)}"
            qrels.append((qid, corpus_ids[w]))
    write_jsonl(os.path.join(d, "queries.jsonl"), queries)
    write_jsonl(os.path.join(d, "corpus.jsonl"), [{"_id": i, "text": w} for w, i in corpus_ids.items()])
    with open(os.path.join(d, "qrels", f"{name}.tsv"), "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, c in qrels:
            f.write(f"{q}\t{c}\t1\n")
    return len(queries), len(corpus_ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    splits = {"train": [], "dev": [], "test": []}
    for s in read_synsets(args.wordnet):
        splits[split_of(s[0], s[1])].append(s)
    write_jsonl(os.path.join(args.out_dir, "train.jsonl"),
                ({"anchor": d, "positive": ", ".join(w)} for _, _, d, w in splits["train"]))
    print(f"wordnet_convert: train {len(splits['train'])} pairs", file=sys.stderr)
    for name in ("dev", "test"):
        nq, nc = write_ir(args.out_dir, name, splits[name])
        print(f"wordnet_convert: {name} {nq} queries, {nc} corpus words", file=sys.stderr)


if __name__ == "__main__":
    main()
