#!/usr/bin/env python3
"""Generates the CLIP tokenizer fixtures in tests/fixtures/tokenizer/.

No model hub is reachable, so the vocabulary is our own: a byte-level BPE with exactly the
structure of OpenAI CLIP's (256 byte-unicode symbols in bytes_to_unicode order, the same 256
with "</w>", one token per merge in merge order, then <|startoftext|> and <|endoftext|>),
trained here (plain deterministic BPE over words cut by HF's own CLIP normaliser and
pre-tokeniser) on a generated multilingual corpus. Hugging Face `CLIPTokenizer` (the tokenizers-backed "fast" tokenizer;
`CLIPTokenizerFast` is the same class in transformers 5) loads the files with
`from_pretrained(dir)` and its outputs are the expected values.

    /work/venv/bin/python tools/gen_tokenizer_fixtures.py            # writes the fixtures
    /work/venv/bin/python tools/gen_tokenizer_fixtures.py \
        --real-bpe bpe_simple_vocab_16e6.txt.gz --real-out /tmp/clip_real
        # also converts OpenAI's real vocabulary (from the open_clip_torch wheel) and writes
        # cases for it to a directory outside the repository; run the C test on it with
        # DRUM_TOKENIZER_EXTRA=/tmp/clip_real ./build/tests/test_tokenizer
        # (--stress N adds N random-code-point strings to those cases)

Files written:
  vocab.json, merges.txt    the vocabulary (HF format)
  cases.jsonl               line 1: {"bos","eos","pad","vocab"}; then one case per line:
                            {"t": text} or {"x": hex bytes, for invalid UTF-8},
                            "c": context length, "ids": the ids up to the last unmasked one,
                            "eos": argmax(ids == eos_id), "eosl": argmax(ids) (legacy rule).
                            HF's full output is ids + [pad] * (c - len(ids)) with mask
                            [1] * len(ids) + [0] * rest; the generator asserts that shape.
  alt_config/tokenizer_config.json, alt_config/cases.jsonl
                            the same vocabulary under a config whose special tokens are
                            "normalized" and whose pad token is "!" (laion-style)
  openai_config/tokenizer_config.json, openai_config/cases.jsonl
                            the same under openai/clip-vit-*'s config shape (AddedToken
                            objects, pad a plain string, no added_tokens_decoder)
"""
import argparse
import gzip
import heapq
import json
import os
import random
import shutil
import sys
import tempfile

import numpy as np

N_MERGES = 3000
SEED_CORPUS = 1234
SEED_CASES = 5678

WORDS = """a an the of and to in is was for on that with as by at from it this be are or his her
their they we you he she not but have has had were which one all there been more when will
would who what about out up into its than them some could time only new these two may first
then do any like my now over such our man me even most made after also did many before must
through back years where much your way well down should because each just those people how
too little state good very make world still own see men work long get here between both life
being under never day same another know while last might us great old year off come since
against go came right used take three photo picture image dog cat bird horse car bus train
plane boat bicycle street road city building house room kitchen table chair bed window door
tree flower grass sky cloud water beach ocean river mountain snow rain sun night light red
blue green yellow black white brown orange purple pink gray small large big tall short young
playing sitting standing walking running eating holding looking riding wearing carrying
person woman girl boy child children group food pizza sandwich cake plate bowl cup glass
bottle phone computer laptop keyboard screen sign clock book ball frisbee kite umbrella bag
shirt hat jacket field park game team player tennis baseball soccer skateboard surfboard
question answer caption describe which what how many color colour is there are these those
don't can't won't isn't it's i'm you're we've they'll she'd he's let's o'clock rock'n'roll
""".split()

ACCENTED = """café naïve résumé façade jalapeño Zürich São Paulo Ångström Dvořák Łódź İstanbul
straße ÉCOLE Mötley Crüe coöperate piñata crème brûlée déjà vu smörgåsbord Øresund Ærøskøbing
Kraków Győr Besançon Curaçao Reykjavík Þingvellir Čeština Español Português Français Ελλάδα
Αθήνα ΣΟΦΙΑ σοφία Москва Россия привет мир Україна Київ Ђорђе ქართული Հայաստան""".split()

CJK = ["我们在公园里散步", "一只猫坐在桌子上", "今天天气很好", "東京タワーの写真", "猫が窓の外を見ている",
       "ひらがなとカタカナ", "한국어 문장입니다", "강아지가 공을 물고 있다", "北京大学", "中文，标点。符号！",
       "「引用」と『二重』", "ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ", "漢字仮名交じり文", "二〇二四年"]

OTHER_SCRIPTS = ["مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "हिन्दी", "สวัสดีครับ", "ภาษาไทย",
                 "বাংলা", "தமிழ்", "ᐃᓄᒃᑎᑐᑦ", "ꦗꦮ", "አማርኛ", "ພາສາລາວ", "မြန်မာ", "ខ្មែរ"]

EMOJI = ["😀", "🐶", "🐱", "🍕", "🚗", "👍", "👍🏽", "❤️", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇫🇷",
         "✨", "🔥", "🎉", "☕", "⚽", "🌍", "🙂", "🤖", "🧑‍💻", "©", "®", "™", "✔️", "➡️"]

PUNCT = list(".,;:!?-—–…'\"()[]{}<>/\\|@#$%^&*_+=~`") + ["...", "!!", "?!", "--", "''",
                                                         "“", "”", "‘", "’", "«", "»", "¿", "¡",
                                                         "•", "·", "§", "¶", "°", "€", "£", "¥"]

NUMBERS = ["0", "1", "7", "42", "2024", "3.14159", "1,000,000", "12:30", "4th", "1st", "x2",
           "²", "³", "½", "¼", "Ⅻ", "٣", "१२", "①", "10%", "$5", "-17", "1e-3", "0x1F", "٤٥"]

WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\u2028", "\u000b",
              "\u000c", "\u0085", "\u1680", "\u202f", "\u205f", "\u200a"]
NOT_WHITESPACE = ["\u200b", "\u200d", "\ufeff", "\u180e", "\u0001", "\u001f", "\u007f", "\u00ad",
                  "\u2060", "\u034f"]

SPECIALS = ["<|startoftext|>", "<|endoftext|>"]


def bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) +
          list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


SYLLABLES = """ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge gi go ka ke ki ko
la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so su ta te ti
to tu va ve vi vo za ze zi zo str tion ing er ed ly ous ment ness pre con dis un re ex""".split()


def random_word(rng):
    r = rng.random()
    if r < 0.15:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4)))
    elif r < 0.55:
        w = rng.choice(WORDS)
    elif r < 0.68:
        w = rng.choice(ACCENTED)
    elif r < 0.76:
        w = rng.choice(NUMBERS)
    elif r < 0.83:
        w = rng.choice(CJK)
    elif r < 0.88:
        w = rng.choice(OTHER_SCRIPTS)
    elif r < 0.94:
        w = rng.choice(EMOJI)
    else:
        w = rng.choice(PUNCT)
    c = rng.random()
    if c < 0.1:
        w = w.capitalize()
    elif c < 0.13:
        w = w.upper()
    return w


def random_sentence(rng, nwords):
    out = []
    for i in range(nwords):
        out.append(random_word(rng))
        r = rng.random()
        if r < 0.06:
            out.append(rng.choice(PUNCT))
        if i + 1 < nwords:
            out.append(" " if rng.random() < 0.9 else rng.choice(WHITESPACE))
    s = "".join(out)
    if rng.random() < 0.4:
        s += rng.choice([".", "!", "?", "...", ""])
    return s


def clip_pretokenizer():
    """HF's CLIP normaliser and pre-tokeniser (what CLIPTokenizer builds)."""
    from tokenizers import Regex, normalizers, pre_tokenizers

    norm = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"""
                                   r"""[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                             behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    return norm, pre


def train_merges(word_counts, n_merges):
    """Plain BPE training (Sennrich et al.), deterministic: the most frequent adjacent pair
    wins, ties go to the lexicographically smallest pair."""
    words = [list(w[:-1]) + [w[-1] + "</w>"] for w in sorted(word_counts)]
    freq = [word_counts[w] for w in sorted(word_counts)]
    counts, where = {}, {}
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            counts[p] = counts.get(p, 0) + freq[i]
            where.setdefault(p, set()).add(i)
    heap = [(-c, p) for p, c in counts.items()]
    heapq.heapify(heap)
    merges = []
    while heap and len(merges) < n_merges:
        c, p = heapq.heappop(heap)
        if counts.get(p, 0) != -c or -c < 2:
            continue
        merges.append(p)
        new = p[0] + p[1]
        for i in sorted(where.pop(p, ())):
            w = words[i]
            for q in zip(w, w[1:]):
                counts[q] -= freq[i]
            out, k = [], 0
            while k < len(w):
                if k + 1 < len(w) and (w[k], w[k + 1]) == p:
                    out.append(new)
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            words[i] = out
            touched = set()
            for q in zip(out, out[1:]):
                counts[q] = counts.get(q, 0) + freq[i]
                where.setdefault(q, set()).add(i)
                touched.add(q)
            for q in touched:
                heapq.heappush(heap, (-counts[q], q))
        counts.pop(p, None)
    return merges


def train_vocab(n_merges):
    rng = random.Random(SEED_CORPUS)
    norm, pre = clip_pretokenizer()
    word_counts = {}
    for _ in range(30000):
        text = norm.normalize_str(random_sentence(rng, rng.randint(3, 25)))
        for w, _ in pre.pre_tokenize_str(text):
            word_counts[w] = word_counts.get(w, 0) + 1
    merges = train_merges(word_counts, n_merges)
    if len(merges) < n_merges:
        sys.exit(f"training produced {len(merges)} merges, need {n_merges}")

    base = list(bytes_to_unicode().values())
    vocab_list = base + [b + "</w>" for b in base]
    for a, b in merges:
        vocab_list.append(a + b)
    vocab_list += SPECIALS
    vocab = {}
    for i, t in enumerate(vocab_list):
        if t in vocab:
            sys.exit(f"duplicate token {t!r}")
        vocab[t] = i
    return vocab, merges


def write_vocab(dirpath, vocab, merges):
    with open(os.path.join(dirpath, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(dirpath, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")


def convert_real_bpe(path):
    """OpenAI's bpe_simple_vocab_16e6.txt.gz -> (vocab, merges), exactly as CLIP builds them."""
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    base = list(bytes_to_unicode().values())
    vocab_list = base + [b + "</w>" for b in base] + ["".join(m) for m in merges] + SPECIALS
    return {t: i for i, t in enumerate(vocab_list)}, merges


def invalid_utf8_cases(rng):
    fixed = [b"abc\xffdef", b"\xc3", b"caf\xc3", b"\xe2\x82", b"\xe2\x82A", b"\xf0\x9f\x98",
             b"\xf0\x9f\x98x", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf4\x90\x80\x80",
             b"\xf5abc", b"\x80\x80\x80", b"ok \xfe\xfe ok", b"\xef\xbb\xbfbom", b"\xc3\xa9\xcc",
             b"x\xe1\x80", b"\xf1\x80\x80", b"\xf0\x90\x80\xe2\x82\xac"]
    out = list(fixed)
    pool = [b"a", b"b", b" ", b"\xc3\xa9", b"\xe6\x97\xa5", b"\xf0\x9f\x98\x80", b"!", b"1"]
    for _ in range(60):
        parts = []
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.3:
                parts.append(bytes([rng.randint(0x80, 0xff)]))
            elif rng.random() < 0.2:
                full = rng.choice(pool[3:6])
                parts.append(full[:rng.randint(1, len(full))])
            else:
                parts.append(rng.choice(pool))
        out.append(b"".join(parts))
    return out


def make_texts():
    rng = random.Random(SEED_CASES)
    texts = [
        "", " ", "   \t\n  ", "a", "A", "hello world", "Hello, World!", "a photo of a cat",
        "A PHOTO OF A DOG.", "what's in the image? it's a dog's toy", "I'M HERE", "they'll've",
        "don't", "o'clock", "'s", "''s", "'''", "x'sy", "rock'n'roll", "'re 've 'm 'll 'd 't",
        "<|startoftext|>", "<|endoftext|>", "a<|startoftext|>b", "!<|endoftext|>", "<|ENDOFTEXT|>",
        "<|EndOfText|> x", "x <|endoftext|><|endoftext|> y", "<|endoftext", "<|startoftext|",
        "<|  endoftext|>", "text<|endoftext|>text<|startoftext|>more",
        "İstanbul", "İİİ", "ΣΑΣ", "ΌΣΟΣ Σ", "ǅemal", "ẞ", "ﬁ ligature", "Å vs Å", "é vs é",
        "e\u0301\u0301", "\u1100\u1161\u11a8", "한글", "ｆｕｌｌｗｉｄｔｈ", "ＡＢＣ", "Ⅻ ⅻ",
        "½ ¼ ² ³ ① ٣ १२", "0123456789", "3.14159", "1,000,000.00", "$5 €10 £20 ¥30",
        "12:30pm", "2024-01-01T12:00:00Z", "1st 2nd 3rd 4th", "x²+y²=z²",
        "😀", "😀😀😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵🇫🇷", "❤️", "a🐶b", "🤖🧑‍💻",
        "我们在公园里散步", "東京タワーの写真", "中文，标点。符号！", "「引用」", "漢字" * 60,
        "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ", "ᐃᓄᒃᑎᑐᑦ",
        "tab\tseparated\tvalues", "line\nbreaks\r\nhere", "nbsp\u00a0here", "em\u2003space",
        "ideographic\u3000space", "zero\u200bwidth", "joiner\u200dhere", "bom\ufeffin",
        "soft\u00adhyphen", "ctrl\u0001char", "del\u007fchar", "nel\u0085here", "ls\u2028ps\u2029",
        "mongolian\u180esep", "nonchar\ufffe\uffff", "max\U0010ffff", "private\ue000use",
        "replacement\ufffdchar", "combining only \u0301\u0302", "ﬀ ﬃ Ǆ ǅ ǆ", "ᾈ ᾼ", "vt\u000bff\u000c", "ogham\u1680space", "narrow\u202fnbsp",
        "   leading and trailing   ", "multiple     spaces", "\n\n\nnewlines\n\n",
        "!!!???...", "....", "-- — –", "(parens) [brackets] {braces}", "<tag attr=\"v\">",
        "email@example.com", "https://example.com/path?q=1&r=2#frag", "C:\\path\\to\\file",
        "snake_case_name", "camelCaseName", "kebab-case-name", "#hashtag @mention",
        "naïve café résumé", "CRÈME BRÛLÉE", "Ærøskøbing", "Dvořák", "Łódź", "straße STRASSE",
        "Москва ПРИВЕТ", "Ελλάδα", "ქართული", "Հայաստան",
        "a" * 300, "ab" * 200, "abc " * 100, "1 " * 100, "! " * 100, "🐶" * 80,
        " ".join(["word"] * 80), " ".join(["photograph"] * 40), "x" * 5000,
    ]
    for c in SPECIALS:
        texts.append(c * 3)
        texts.append(c.upper())
    for ws in WHITESPACE + NOT_WHITESPACE:
        texts.append(f"a{ws}b{ws}{ws}c")
    for _ in range(700):
        texts.append(random_sentence(rng, rng.randint(1, 20)))
    for _ in range(120):
        texts.append(random_sentence(rng, rng.randint(40, 90)))
    for _ in range(80):
        n = rng.randint(1, 6)
        texts.append("".join(rng.choice(PUNCT + NUMBERS + EMOJI + NOT_WHITESPACE + ["'", "'s"])
                             for _ in range(n)))
    for _ in range(40):
        s = random_sentence(rng, rng.randint(2, 10))
        i = rng.randint(0, len(s))
        texts.append(s[:i] + rng.choice(SPECIALS + [x.upper() for x in SPECIALS]) + s[i:])
    return texts


def run_cases(tok, entries, rng):
    """entries: list of (raw bytes). Returns list of dict lines."""
    eos_id = tok.eos_token_id
    pad_id = tok.pad_token_id
    lines = []
    by_ctx = {}
    for k, raw in enumerate(entries):
        ctx = 77
        r = rng.random()
        if r < 0.08:
            ctx = rng.choice([2, 3, 5, 8, 16, 33])
        by_ctx.setdefault(ctx, []).append(k)
    out = [None] * len(entries)
    for ctx, idx in sorted(by_ctx.items()):
        texts = [entries[k].decode("utf-8", "replace") for k in idx]
        enc = tok(texts, padding="max_length", max_length=ctx, truncation=True)
        for k, ids, mask in zip(idx, enc["input_ids"], enc["attention_mask"]):
            n = sum(mask)
            assert len(ids) == ctx and mask == [1] * n + [0] * (ctx - n), (entries[k], mask)
            assert ids[n:] == [pad_id] * (ctx - n)
            a = np.array(ids)
            line = {}
            raw = entries[k]
            try:
                line["t"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                line["x"] = raw.hex()
            line["c"] = ctx
            line["ids"] = ids[:n]
            line["eos"] = int(np.argmax(a == eos_id))
            line["eosl"] = int(np.argmax(a))
            out[k] = line
    return out


def write_cases(path, tok, lines):
    header = {"bos": tok.bos_token_id, "eos": tok.eos_token_id, "pad": tok.pad_token_id,
              "vocab": len(tok)}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


def all_entries():
    texts = make_texts()
    entries = [t.encode("utf-8") for t in texts if "\x00" not in t]
    entries += invalid_utf8_cases(random.Random(SEED_CASES + 1))
    return entries


STRESS_RANGES = [(0x20, 0x7f), (0xa0, 0x250), (0x370, 0x530), (0x590, 0x700), (0x900, 0xe00),
                 (0x1100, 0x1200), (0x1e00, 0x2c00), (0x3000, 0x3100), (0x4e00, 0x4f00),
                 (0xac00, 0xad00), (0xfb00, 0xfff0), (0x10400, 0x10500), (0x1d400, 0x1d800),
                 (0x1f300, 0x1fa00), (0xe0000, 0xe0080)]


def stress_entries(n):
    """Random strings over wide code-point ranges (letters, marks, symbols of many Unicode
    versions): a local check of the Unicode tables, too large to commit."""
    rng = random.Random(99)
    out = []
    for _ in range(n):
        cs = []
        for _ in range(rng.randint(1, 30)):
            if rng.random() < 0.3:
                cs.append(rng.choice(" 'sa.!1<|>"))
            else:
                a, b = rng.choice(STRESS_RANGES)
                cs.append(chr(rng.randint(a, b - 1)))
        out.append("".join(cs).encode("utf-8"))
    return out


def tokenizer_under(cls, vocab_dir, out_dir, cfg):
    """Writes cfg as out_dir/tokenizer_config.json and loads vocab_dir's vocabulary under it."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(vocab_dir, name), tmp)
        shutil.copy(os.path.join(out_dir, "tokenizer_config.json"), tmp)
        return cls.from_pretrained(tmp)


def main():
    from transformers import CLIPTokenizer

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/tokenizer")
    ap.add_argument("--real-bpe", help="OpenAI bpe_simple_vocab_16e6.txt.gz (open_clip_torch)")
    ap.add_argument("--real-out", help="where the real-vocabulary files go (not the repo)")
    ap.add_argument("--stress", type=int, default=0,
                    help="add N random-code-point strings to the --real-out cases")
    args = ap.parse_args()

    entries = all_entries()
    os.makedirs(args.out, exist_ok=True)
    vocab, merges = train_vocab(N_MERGES)
    write_vocab(args.out, vocab, merges)
    tok = CLIPTokenizer.from_pretrained(args.out)
    assert len(tok) == len(vocab), (len(tok), len(vocab))
    assert tok.bos_token_id == len(vocab) - 2 and tok.eos_token_id == len(vocab) - 1
    lines = run_cases(tok, entries, random.Random(SEED_CASES + 2))
    write_cases(os.path.join(args.out, "cases.jsonl"), tok, lines)
    print(f"{args.out}: vocab {len(vocab)}, {len(merges)} merges, {len(lines)} cases")

    # The same vocabulary under a laion-style config: normalized special tokens, pad "!".
    alt = os.path.join(args.out, "alt_config")
    os.makedirs(alt, exist_ok=True)
    bos, eos = len(vocab) - 2, len(vocab) - 1
    spec = {"lstrip": False, "rstrip": False, "single_word": False, "normalized": True,
            "special": True}
    cfg = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77,
           "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
           "unk_token": "<|endoftext|>", "pad_token": "!",
           "added_tokens_decoder": {
               str(bos): dict(content="<|startoftext|>", **spec),
               str(eos): dict(content="<|endoftext|>", **spec),
               # added, non-special: one matched after normalisation (by its normalised
               # content), one matched on the raw text only
               str(eos + 1): dict(spec, content="<PAD>", special=False),
               str(eos + 2): dict(spec, content="Zürich", normalized=False, special=False)}}
    tok_alt = tokenizer_under(CLIPTokenizer, args.out, alt, cfg)
    assert tok_alt.pad_token_id == vocab["!"] and len(tok_alt) == len(vocab) + 2
    rng = random.Random(SEED_CASES + 3)
    extra = ["x <pad> y", "x <PAD> y", "x<Pad>y", "<PAD><pad>!", "zürich Zürich ZÜRICH",
             "Zu\u0308rich", "Zürich<|endoftext|>", "a photo of Zürich <PAD>"]
    sub = [t.encode("utf-8") for t in extra]
    sub += [e for e in entries if b"<|" in e or b"!" in e or b"|>" in e]
    sub += rng.sample(entries, 60)
    lines = run_cases(tok_alt, sub, random.Random(SEED_CASES + 4))
    write_cases(os.path.join(alt, "cases.jsonl"), tok_alt, lines)
    print(f"{alt}: {len(lines)} cases")

    # openai/clip-vit-*'s own config shape: bos, eos and unk AddedToken objects with
    # "normalized": true, pad the plain string "<|endoftext|>", no added_tokens_decoder. The
    # last registration of "<|endoftext|>" (pad's) leaves it not normalized, so
    # "<|ENDOFTEXT|>" is text while "<|STARTOFTEXT|>" is still the start token.
    oai = os.path.join(args.out, "openai_config")
    os.makedirs(oai, exist_ok=True)
    added = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": True,
             "__type": "AddedToken"}
    cfg = {"unk_token": dict(content="<|endoftext|>", **added),
           "bos_token": dict(content="<|startoftext|>", **added),
           "eos_token": dict(content="<|endoftext|>", **added),
           "pad_token": "<|endoftext|>", "add_prefix_space": False, "errors": "replace",
           "do_lower_case": True, "model_max_length": 77, "tokenizer_class": "CLIPTokenizer"}
    tok_oai = tokenizer_under(CLIPTokenizer, args.out, oai, cfg)
    extra = ["<|ENDOFTEXT|>", "a <|endoftext|> b", "<|EndOfText|> x", "<|endoftext|>",
             "<|STARTOFTEXT|> y", "<|startoftext|>dog", "x<|startOfText|><|endOfText|>y"]
    sub = [t.encode("utf-8") for t in extra]
    sub += [e for e in entries if b"<|" in e or b"|>" in e]
    lines = run_cases(tok_oai, sub, random.Random(SEED_CASES + 5))
    write_cases(os.path.join(oai, "cases.jsonl"), tok_oai, lines)
    print(f"{oai}: {len(lines)} cases")

    if args.real_bpe:
        if not args.real_out:
            sys.exit("--real-bpe needs --real-out")
        os.makedirs(args.real_out, exist_ok=True)
        rvocab, rmerges = convert_real_bpe(args.real_bpe)
        write_vocab(args.real_out, rvocab, rmerges)
        rtok = CLIPTokenizer.from_pretrained(args.real_out)
        assert len(rtok) == 49408 and rtok.eos_token_id == 49407
        lines = run_cases(rtok, entries + stress_entries(args.stress), random.Random(SEED_CASES + 2))
        write_cases(os.path.join(args.real_out, "cases.jsonl"), rtok, lines)
        print(f"{args.real_out}: real CLIP vocab {len(rvocab)}, {len(lines)} cases")


if __name__ == "__main__":
    main()
