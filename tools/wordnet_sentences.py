#!/usr/bin/env python3
"""Write real English sentences (WordNet glosses) to a text file, one per line.

Used by bench/encode_vs_st (and by tools/make_encode_fixtures.py to pick a
realistic vocabulary) because it needs a few thousand real sentences that are
on every Debian machine without downloading anything: the glosses of the
Debian package `wordnet-base` (/usr/share/wordnet/data.{noun,verb,adj,adv}).

Each non-header line of a data file is a synset; its gloss is the text after
" | ". Header (license) lines start with two spaces and are skipped.

Selection is deterministic: either the first N glosses in file order
(noun, verb, adj, adv) with --order file, or a sample of N drawn with
Python's random.Random(seed) (the default, which mixes all four parts of
speech and so gives a realistic spread of lengths).
"""

import argparse
import random
import sys

PARTS = ("noun", "verb", "adj", "adv")
DEFAULT_DIR = "/usr/share/wordnet"


def read_glosses(wordnet_dir=DEFAULT_DIR):
    """Return every gloss of the four data files, in file order."""
    glosses = []
    for part in PARTS:
        path = f"{wordnet_dir}/data.{part}"
        try:
            fh = open(path, encoding="utf-8", errors="replace")
        except OSError as exc:
            raise SystemExit(f"wordnet_sentences: cannot open {path}: {exc} "
                             "(install the Debian package wordnet-base)")
        with fh:
            for line in fh:
                if line.startswith("  "):
                    continue  # license header
                sep = line.find(" | ")
                if sep < 0:
                    continue
                gloss = line[sep + 3:].strip()
                if gloss:
                    glosses.append(gloss)
    return glosses


def select(glosses, n, order="sample", seed=0):
    """Pick n glosses: the first n in file order, or a seeded sample."""
    if n > len(glosses):
        raise SystemExit(f"wordnet_sentences: asked for {n} sentences, "
                         f"only {len(glosses)} glosses exist")
    if order == "file":
        return glosses[:n]
    return random.Random(seed).sample(glosses, n)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="number of sentences (default 10000)")
    ap.add_argument("--order", choices=("sample", "file"), default="sample",
                    help="seeded sample (default) or first N in file order")
    ap.add_argument("--seed", type=int, default=0, help="sample seed (default 0)")
    ap.add_argument("--wordnet-dir", default=DEFAULT_DIR)
    ap.add_argument("--output", "-o", default="-", help="output file (default stdout)")
    args = ap.parse_args(argv)

    chosen = select(read_glosses(args.wordnet_dir), args.n, args.order, args.seed)
    text = "".join(s + "\n" for s in chosen)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
