#!/usr/bin/env python3
"""Generates data/tokenizer_tables.c: the Unicode tables of stc's WordPiece
tokenizer, measured from Hugging Face `tokenizers` itself.

Why measured and not taken from utf8proc: the Rust crate mixes several Unicode
versions. Its control/format/punctuation/non-spacing-mark tests come from the
`unicode_categories` crate (an old Unicode, with private-use planes counted as
"other"), its NFD from `unicode-normalization-alignments` (older still), and
its whitespace and lower-case mapping from the Rust standard library (a recent
Unicode). utf8proc 2.8 (Unicode 15) disagrees with that mix on ~100
punctuation characters, ~420 Mn characters, 56 lower-case mappings (U+0130
among them) and 1 decomposition. Probing every code point through the
reference gives tables that are right by construction and do not depend on
the utf8proc version of the build machine.

    /work/venv/bin/python tools/make_tokenizer_tables.py   # rewrites data/tokenizer_tables.c

Each probe runs one character through one component with everything else
switched off:
  removed   BertNormalizer(clean_text) deletes the char (controls, format,
            private use, U+0000, U+FFFD)
  ws        BertPreTokenizer splits "a?a" in two (Rust char::is_whitespace)
  punct     BertPreTokenizer splits "a?a" in three (ASCII or Unicode P*)
  chinese   BertNormalizer(handle_chinese_chars) pads the char
  mn        BertNormalizer(strip_accents) deletes a char that NFD leaves alone
            (unicode_categories' Mn; only undecomposable chars matter, NFD runs first)
  combining StripAccents deletes the char (unicode-normalization's combining mark)
  word      a single_word added token after the char is refused (regex \\w)
  lower     Lowercase / BertNormalizer(lowercase) output (Rust char::to_lowercase)
  nfd       NFD output (Hangul syllables excluded: computed in C)
"""
import os
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordPiece

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "data", "tokenizer_tables.c")


def code_points():
    return [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]


def probe():
    cps = code_points()
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                       strip_accents=False, lowercase=False)
    chinese = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True,
                                         strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                       strip_accents=True, lowercase=False)
    lower = normalizers.Lowercase()
    bert_lower = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                            strip_accents=False, lowercase=True)
    nfd = normalizers.NFD()
    strip_accents = normalizers.StripAccents()
    pretok = pre_tokenizers.BertPreTokenizer()
    t = {k: [] for k in ("removed", "ws", "punct", "chinese", "mn", "combining", "word")}
    t["lower"], t["nfd"] = {}, {}
    for c in cps:
        ch = chr(c)
        if clean.normalize_str(ch) == "":
            t["removed"].append(c)
        if chinese.normalize_str(ch) != ch:
            t["chinese"].append(c)
        d = nfd.normalize_str(ch)
        if d != ch:
            t["nfd"][c] = [ord(x) for x in d]
        elif strip.normalize_str(ch) == "":
            t["mn"].append(c)
        if strip_accents.normalize_str(ch) == "":
            t["combining"].append(c)
        low = lower.normalize_str(ch)
        if low != bert_lower.normalize_str(ch):
            sys.exit("Lowercase and BertNormalizer(lowercase) disagree on U+%04X" % c)
        if low != ch:
            t["lower"][c] = [ord(x) for x in low]
        n = len(pretok.pre_tokenize_str("a" + ch + "a"))
        if n == 2:
            t["ws"].append(c)
        elif n == 3:
            t["punct"].append(c)
        elif n != 1:
            sys.exit("unexpected pre-tokenization of U+%04X" % c)
    # regex \w, as added_vocabulary.rs uses it for single_word tokens.
    tok = Tokenizer(WordPiece({"[UNK]": 0, "zq": 1}, unk_token="[UNK]"))
    tok.add_tokens([AddedToken("zq", single_word=True)])
    step = 50000
    for i in range(0, len(cps), step):
        chunk = cps[i:i + step]
        for c, enc in zip(chunk, tok.encode_batch([chr(c) + "zq" for c in chunk])):
            if len(enc.ids) == 1:
                t["word"].append(c)
    return t


def hangul_nfd(c):
    s = c - 0xAC00
    out = [0x1100 + s // 588, 0x1161 + (s % 588) // 28]
    if s % 28:
        out.append(0x11A7 + s % 28)
    return out


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] + 1 == c:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def emit_ranges(f, name, cps, what):
    rs = ranges(cps)
    f.write("/* %s: %d code points in %d ranges. */\n" % (what, len(cps), len(rs)))
    f.write("const uint32_t %s[][2] = {\n" % name)
    for i in range(0, len(rs), 4):
        f.write("    " + " ".join("{0x%X, 0x%X}," % (a, b) for a, b in rs[i:i + 4]) + "\n")
    f.write("};\nconst int %s_n = %d;\n\n" % (name, len(rs)))


def emit_map(f, name, m, what):
    keys = sorted(m)
    data, off = [], []
    for k in keys:
        off.append(len(data))
        data.extend(m[k])
    assert len(data) < 65536 and max(len(v) for v in m.values()) <= 4
    f.write("/* %s: %d code points. */\n" % (what, len(keys)))
    f.write("const stc_tok_map_entry %s[] = {\n" % name)
    for i in range(0, len(keys), 4):
        f.write("    " + " ".join("{0x%X, %d, %d}," % (k, o, len(m[k]))
                                  for k, o in zip(keys[i:i + 4], off[i:i + 4])) + "\n")
    f.write("};\nconst int %s_n = %d;\n" % (name, len(keys)))
    f.write("const uint32_t %s_data[] = {\n" % name)
    for i in range(0, len(data), 8):
        f.write("    " + " ".join("0x%X," % x for x in data[i:i + 8]) + "\n")
    f.write("};\n\n")


def main():
    t = probe()
    nfd = {}
    for c, d in t["nfd"].items():
        if 0xAC00 <= c <= 0xD7A3:
            if d != hangul_nfd(c):
                sys.exit("Hangul U+%04X does not decompose algorithmically" % c)
        else:
            nfd[c] = d
    with open(OUT, "w") as f:
        f.write("/*\n * Unicode tables of the WordPiece tokenizer, GENERATED by\n"
                " * tools/make_tokenizer_tables.py from Hugging Face tokenizers %s\n"
                " * (every code point probed through the reference; see the script for why\n"
                " * utf8proc's own tables are not used). Do not edit by hand.\n */\n"
                % tokenizers.__version__)
        f.write('#include "data/tokenizer_tables.h"\n\n')
        f.write("const char stc_tok_tables_version[] = \"tokenizers %s\";\n\n" % tokenizers.__version__)
        emit_ranges(f, "stc_tok_removed", t["removed"], "deleted by BertNormalizer clean_text")
        emit_ranges(f, "stc_tok_ws", t["ws"], "whitespace (Rust char::is_whitespace)")
        emit_ranges(f, "stc_tok_punct", t["punct"], "punctuation isolated by BertPreTokenizer")
        emit_ranges(f, "stc_tok_chinese", t["chinese"], "CJK ideographs padded by handle_chinese_chars")
        emit_ranges(f, "stc_tok_mn", t["mn"], "non-spacing marks dropped by BertNormalizer strip_accents")
        emit_ranges(f, "stc_tok_combining", t["combining"], "combining marks dropped by StripAccents")
        emit_ranges(f, "stc_tok_word", t["word"], "regex \\w (single_word added tokens)")
        emit_map(f, "stc_tok_lower", t["lower"], "Rust char::to_lowercase where it changes the char")
        emit_map(f, "stc_tok_nfd", nfd, "full canonical decomposition (Hangul syllables excluded)")
    print("wrote %s (%d lower, %d nfd entries)" % (OUT, len(t["lower"]), len(nfd)))


if __name__ == "__main__":
    main()
