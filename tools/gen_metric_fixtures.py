#!/usr/bin/env python3
"""Writes the metric fixtures that tests/test_metrics.c checks drum's C metrics against.

    /work/venv/bin/python tools/gen_metric_fixtures.py [--out tests/fixtures/metrics]

Needs `pycocoevalcap` (pip) and `java` on PATH: captions are tokenized by the real
Stanford PTBTokenizer jar that pycocoevalcap ships, and CIDEr-D is computed by
pycocoevalcap's own CiderScorer. VQA accuracy has no pip package, so the reference below
re-implements the official VQA evaluation (GT-Vision-Lab/VQA,
PythonEvaluationTools/vqaEvaluation/vqaEval.py) and OpenFlamingo's copy of it
(open_flamingo/eval/vqa_metric.py) step by step, quirks included:
  - punctuation is deleted (not spaced) when it touches a space anywhere in the input,
    or when the input contains digit-comma-digit anywhere;
  - the period regex "(?!<=\\d)(\\.)(?!\\d)" only checks the following character, and the
    flag re.UNICODE (= 32) lands in sub()'s `count` argument: at most 32 periods go;
  - the contraction keys with capitals (Im, Ive, Id've) can never match after lower();
  - official: GT answers get processPunctuation only, and only when they are not all
    identical; OpenFlamingo: GT always gets strip + processPunctuation + processDigitArticle.
ROC-AUC (Hateful Memes in OpenFlamingo's suite) is sklearn.metrics.roc_auc_score itself
(`pip install scikit-learn`; roc_auc.jsonl was written with scikit-learn 1.9.1,
numpy 2.4.6, Python 3.11.7; its first line records the versions). `--only roc` writes
that file alone (no java or pycocoevalcap needed); it has its own seed, so it never changes
the other files. `--only cider-large` (re)writes cider.json's pre-tokenized 300-image set
alone, also with its own seed (pycocoevalcap, no java).
Outputs (deterministic, seeded):
  vqa.jsonl         normalisation cases and accuracy cases
  ptb_tokens.jsonl  raw caption -> PTB tokens with the punctuation tokens removed
  cider.json        CIDEr-D sets: per-image scores and mean
  roc_auc.jsonl     a meta line, then ROC-AUC cases (scores as repr() strings, so they
                    round-trip exactly and NaN/inf can be written) and error cases
"""
import argparse
import json
import os
import random
import re
import sys

# ---- VQA: the official algorithm ---------------------------------------------------------

CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = ("a", "an", "the")
PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<",
         "@", "`", ",", "?", "!"]
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")


def process_punctuation(text):
    out = text
    delete = COMMA_STRIP.search(text) is not None
    for p in PUNCT:
        if delete or (p + " ") in text or (" " + p) in text:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    # The official call is periodStrip.sub("", out, re.UNICODE): count = 32.
    return PERIOD_STRIP.sub("", out, count=int(re.UNICODE))


def process_digit_article(text):
    words = []
    for w in text.lower().split():
        w = NUMBER_WORDS.get(w, w)
        if w not in ARTICLES:
            words.append(w)
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def clean(text):
    return text.replace("\n", " ").replace("\t", " ").strip()


def leave_one_out(pred, gts):
    # Official semantics with unique answer_ids: each subset drops exactly one answer.
    accs = []
    for i in range(len(gts)):
        matches = sum(1 for j, g in enumerate(gts) if j != i and g == pred)
        accs.append(min(1, float(matches) / 3))
    return float(sum(accs)) / len(accs)


def vqa_acc_official(pred, answers):
    pred = process_digit_article(process_punctuation(clean(pred)))
    gts = list(answers)
    if len(set(gts)) > 1:
        gts = [process_punctuation(g) for g in gts]
    return leave_one_out(pred, gts)


def vqa_acc_openflamingo(pred, answers):
    pred = process_digit_article(process_punctuation(clean(pred)))
    gts = [process_digit_article(process_punctuation(clean(g))) for g in answers]
    return leave_one_out(pred, gts)


# ---- VQA cases ------------------------------------------------------------------------------

NORM_EDGE = [
    "", " ", "yes", "Yes", "YES.", "no!", "two", "Two dogs", "the two", "a", "an apple",
    "The End", "none", "None of them", "zero", "ten", "eleven", "one.", "1.5", "1,5", "1 ,5",
    "1, 5", "10,000", "10,000 dollars", "3.14159", "e.g. red", "mr. smith", "U.S.A.", "etc.",
    "...", "....", "a.b.c", "end.", ".5", "5.", "5..", "x.5.y", "red, white", "red,white",
    "red ,white", "black/white", "black / white", "left-hand", "left - hand", "t-shirt",
    "t-shirt, 2", "(yes)", "( yes )", "[no]", "{maybe}", "\"quoted\"", "'single'", "it's",
    "its", "isnt", "isn't", "dont", "don't", "cant", "Im", "Ive", "youre", "whats up",
    "wont", "oclock", "a+b", "a + b", "a=b", "a_b", "a\\b", "<html>", "@home", "`tick`",
    "what?", "what ?", "wow!", "wow !", "wow!!", "yes;no", "yes; no", "yes:no", "1:30",
    "one two three four five six seven eight nine ten", "The the THE a A an AN",
    "  spaced   out  ", "tab\there", "new\nline", "mixed\t\n whitespace ", "caf\u00e9",
    "CAF\u00c9", "na\u00efve", "\u00c0 la carte", "non\u00a0breaking", "em\u2003space",
    "ideo\u3000space", "\u0661.\u0662", "\u0661,\u0662", "x\u0663.y", "twas", "'twas", "yall",
    "y'all", "somebody'd", "hed've", "he'd've", "let's", "ow's'at",
    ".".join("abcdefghijklmnopqrstuvwxyzabcdefghijklmnop"),
    "a" + ". " * 40 + "b", "1.2.3.4", "v1.0", "$5.00", "50%", "#1", "no. 5", "#", "-", "--",
    "- 5", "-5", "5-", "?", "!", ",", ".", ";", "a;b;c", "yes,", ",yes", "yes ,", "ok.ok",
    "ok. ok", "12,345,678", "1,2,3", "1,a", "a,1", "2 , 3", "a , b , 1,2",
]

ANSWER_POOLS = [
    ["yes", "Yes", "yes.", "YES!", "yes ", "yeah", "no"],
    ["no", "No", "no.", "nope", "yes", "no!"],
    ["2", "two", "Two", "2.", "two.", "3", "three", "2 "],
    ["0", "none", "zero", "nothing", "None", "0."],
    ["10", "ten", "Ten", "10.0", "10,0"],
    ["red", "Red", "red.", "the red one", "red and white", "red, white", "red/white"],
    ["dog", "a dog", "the dog", "Dog", "dogs", "a Dog.", "the dogs"],
    ["t-shirt", "t shirt", "tshirt", "T-Shirt", "shirt"],
    ["isn't", "isnt", "is not", "isn t"],
    ["don't know", "dont know", "do not know", "don't know."],
    ["1:30", "1 30", "130", "1:30 pm", "one thirty"],
    ["10,000", "10000", "10 000", "10,000 dollars"],
    ["baseball", "base ball", "base-ball", "Baseball!", "baseball?"],
    ["left", "Left", "left side", "on the left", "left."],
    ["ice cream", "ice-cream", "icecream", "ice cream cone"],
    ["3.5", "3 5", "3.50", "three and half"],
    ["u.s.", "us", "usa", "u.s.a", "U.S.A."],
    ["mcdonald's", "mcdonalds", "mc donald's", "McDonald's"],
    ["st. louis", "st louis", "saint louis", "st. louis."],
]


def vqa_cases(rng):
    cases = []
    for s in NORM_EDGE + sorted(CONTRACTIONS) + [k.capitalize() for k in sorted(CONTRACTIONS)[:40]]:
        cleaned = clean(s)
        punct = process_punctuation(cleaned)
        cases.append({"kind": "norm", "in": s, "clean": cleaned, "punct": punct,
                      "digit": process_digit_article(cleaned),
                      "norm": process_digit_article(punct)})
    for k in range(220):
        pool = rng.choice(ANSWER_POOLS)
        n = 10 if k % 7 else rng.choice([1, 2, 3, 5, 9, 10])
        if k % 11 == 0:
            answers = [rng.choice(pool)] * n  # all identical: the official skips GT processing
        else:
            answers = [rng.choice(pool) for _ in range(n)]
        pred = rng.choice(pool + [rng.choice(NORM_EDGE), rng.choice(rng.choice(ANSWER_POOLS))])
        if k % 5 == 0:
            pred = rng.choice(["", " ", "\t", "\n"]) + pred + rng.choice(["", " ", "\n", "\t "])
        cases.append({"kind": "acc", "pred": pred, "answers": answers,
                      "acc_openflamingo": vqa_acc_openflamingo(pred, answers),
                      "acc_official": vqa_acc_official(pred, answers)})
    return cases


# ---- captions -------------------------------------------------------------------------------

SUBJECTS = ["a man", "a woman", "two men", "a young boy", "a little girl", "a dog", "a brown dog",
            "three cats", "a group of people", "an elephant", "a giraffe", "the train",
            "a red bus", "a skier", "a surfer", "a baseball player", "a kitchen", "a plate",
            "a pizza", "a cat", "some sheep", "a zebra", "two horses", "a bird"]
VERBS = ["is standing", "is sitting", "is riding", "walks", "stands", "sits", "is holding",
         "is eating", "are playing", "is parked", "is flying", "is laying", "looks", "waits"]
PLACES = ["on a beach", "in a field", "next to a building", "on the street", "in a kitchen",
          "near the water", "on a snowy hill", "at the park", "in front of a house",
          "on top of a table", "under a tree", "by the road", "in the sky", "on a couch"]
EXTRAS = ["", "", "", " with a frisbee", " with a red umbrella", " while holding a phone",
          " on a sunny day", " at night", " in the rain", " with his dog", " and smiling"]
EDGE_CAPTIONS = [
    "A man's dog (brown) is running.",
    "The \"cat\" is on 3.5 mats, next to 1,000 toys!",
    "A black-and-white photo of a man -- standing near a bus.",
    "A sign that says \"STOP\".",
    "Two dogs; one is sleeping: the other isn't.",
    "A man in a t-shirt at 3:30 p.m. in the U.S.",
    "What a view!? A mountain...",
    "There's a cat, a dog, and a bird.",
    "A woman's hand holds a cup of coffee.",
    "Kids' toys are on the floor.",
    "A plate of food with fork & knife.",
    "A pizza [with cheese] and {olives}.",
    "A   man    with  extra   spaces.",
    "The dog doesn't want to go; it can't.",
    "They're playing soccer in the park, aren't they?",
    "A sign reads 'no parking' near the curb.",
    "A $5 bill and 50% off sign.",
    "An orange cat -- lying on a couch -- looks up.",
    "A train at the station, ready to go.",
    "Mr. Smith and Dr. Jones stand near St. Paul's church.",
    "A bus with #42 on it.",
    "A man wearing a hat; another man, wearing none.",
    "I'm sure it's a zebra, we've seen it.",
    "You'll see they'd left the door open.",
    "A cake with \u201ccandles\u201d and a \u2018happy\u2019 sign \u2014 nice\u2026",
    "A caf\u00e9 with na\u00efve art.",
    "A CAT SITTING ON A MAT.",
    "a skate-board.There is text.",
    "A man - holding a bat - swings.",
    "A dog etc. on a beach.",
    "Three people, 2 dogs and 1 cat.",
    "A clock shows 10:45 on a tower.",
    "A tennis player hits the ball!!",
    "Cows graze in a field (near a barn).",
    "A close-up of a sandwich.",
    "A man and/or a woman on a bench.",
    "A 2-year-old girl eats cake.",
    "The man is 6'2\" tall.",
    "A jersey with No. 5 and a no.7 on it.",
    "A bottle of vitamin C.",
    "Some text.More text on a sign, e.g. a menu.",
    "The letter B. on a wall next to Mt. Fuji etc.",
    "A stop sign... and a yield sign!!",
]


def make_caption(rng):
    s = "%s %s %s%s" % (rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(PLACES),
                        rng.choice(EXTRAS))
    style = rng.random()
    if style < 0.4:
        s = s[0].upper() + s[1:] + "."
    elif style < 0.55:
        s = s + " ."
    elif style < 0.65:
        s = s.upper()
    elif style < 0.75:
        s = s.replace(" with ", ", with ", 1) + "."
    return s


def ptb_tokenize(captions):
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    inp = {i: [{"caption": c}] for i, c in enumerate(captions)}
    out = PTBTokenizer().tokenize(inp)
    return [out[i][0] for i in range(len(captions))]


def cider(hyps, refs):
    from pycocoevalcap.cider.cider import Cider
    gts = {i: refs[i] for i in range(len(hyps))}
    res = {i: [hyps[i]] for i in range(len(hyps))}
    mean, scores = Cider().compute_score(gts, res)
    return float(mean), [float(x) for x in scores]


def caption_sets(rng):
    # The main set: raw captions, tokenized by the Java PTB tokenizer.
    n_img = 50
    raw_refs, raw_hyps = [], []
    for i in range(n_img):
        nref = rng.choice([3, 4, 5, 5, 5, 6])
        refs = [make_caption(rng) for _ in range(nref)]
        if i < len(EDGE_CAPTIONS):
            refs[0] = EDGE_CAPTIONS[i]
        r = rng.random()
        if r < 0.15:
            hyp = refs[rng.randrange(nref)]
        elif r < 0.3 and i + 1 < len(EDGE_CAPTIONS):
            hyp = EDGE_CAPTIONS[i + 1]
        else:
            hyp = make_caption(rng)
        raw_refs.append(refs)
        raw_hyps.append(hyp)
    flat = [c for refs in raw_refs for c in refs] + raw_hyps + EDGE_CAPTIONS
    toks = ptb_tokenize(flat)
    tok_of = dict(zip(flat, toks))
    tok_refs = [[tok_of[c] for c in refs] for refs in raw_refs]
    tok_hyps = [tok_of[h] for h in raw_hyps]
    mean, scores = cider(tok_hyps, tok_refs)
    main = {"name": "main", "hyps": tok_hyps, "refs": tok_refs, "raw_hyps": raw_hyps,
            "raw_refs": raw_refs, "scores": scores, "mean": mean}
    tokens = [{"raw": c, "tokens": tok_of[c]} for c in dict.fromkeys(flat)]

    # Small pre-tokenized sets for the scorer's corners (no tokenizer involved).
    edge = []
    corners = [
        ("one_image", ["a man riding a horse"], [["a man riding a horse", "a person on a horse"]]),
        ("empty_hyp", ["", "a dog on a couch"],
         [["a cat on a mat", "a cat sits"], ["a dog on a couch", "a dog sleeping on a sofa"]]),
        ("one_word_hyps", ["dog", "cat", "a"],
         [["a dog", "dog running"], ["a cat on a mat", "cat"], ["a a a", "the a"]]),
        ("repeats_clipped", ["dog dog dog dog dog dog", "a a a a man man"],
         [["a dog", "the dog is here"], ["a man", "a tall man stands"]]),
        ("long_hyp", ["a man " * 30, "a man"],
         [["a man stands", "a man walks"], ["a man is standing on the corner of a street"]]),
        ("identical", ["the quick brown fox jumps", "over the lazy dog"],
         [["the quick brown fox jumps"] * 3, ["over the lazy dog", "over the lazy dog"]]),
        ("empty_ref", ["a bird", "a plane flies"], [[""], ["a plane flies", ""]]),
    ]
    for name, hyps, refs in corners:
        hyps = [h.strip() for h in hyps]
        mean, scores = cider(hyps, refs)
        edge.append({"name": name, "hyps": hyps, "refs": refs, "scores": scores, "mean": mean})
    return [main] + edge, tokens


def large_cider_set():
    """300 pre-tokenized images, with their own seed: the corpus mean is np.mean's pairwise
    summation (blocks of 128, halves above), and the length penalty meets many differences."""
    rng = random.Random(20261128)
    words = ("a the man woman dog cat red blue on in with street park table sitting standing "
             "riding two").split()

    def cap():
        return " ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))

    hyps, refs = [], []
    for _ in range(300):
        r = [cap() for _ in range(rng.choice([3, 4, 5]))]
        hyps.append(r[0] if rng.random() < 0.1 else cap())
        refs.append(r)
    mean, scores = cider(hyps, refs)
    return {"name": "large", "hyps": hyps, "refs": refs, "scores": scores, "mean": mean}


def write_cider_large(out):
    path = os.path.join(out, "cider.json")
    with open(path) as f:
        sets = [s for s in json.load(f)["sets"] if s["name"] != "large"]
    sets.append(large_cider_set())
    with open(path, "w") as f:
        json.dump({"sets": sets}, f, indent=1)
        f.write("\n")


# ---- ROC-AUC -------------------------------------------------------------------------------


def roc_reference(scores, labels):
    """sklearn's value, or its error message. With one class only, older scikit-learn
    raised ValueError("Only one class present in y_true. ROC AUC score is not defined in
    that case."); 1.9.1 warns (UndefinedMetricWarning, "Only one class is present in
    y_true. ...") and returns nan: both count as an error here, with sklearn's message."""
    import warnings

    import numpy as np
    from sklearn.metrics import roc_auc_score
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            auc = float(roc_auc_score(np.array(labels), np.array(scores, dtype=np.float64)))
        except ValueError as e:
            return None, str(e)
    if auc != auc:
        msgs = [str(w.message) for w in caught]
        return None, "returned nan: " + " ".join(msgs)
    return auc, None


def roc_cases(rng):
    import math
    cases = []

    def add(name, scores, labels, expect_error=False):
        scores = [float(x) for x in scores]
        auc, err = roc_reference(scores, labels)
        if (err is not None) != expect_error:
            raise SystemExit("roc case %s: sklearn gave %r / %r" % (name, auc, err))
        case = {"kind": "error" if expect_error else "auc", "name": name,
                "scores": [repr(x) for x in scores], "labels": list(labels)}
        if expect_error:
            case["error"] = err
        else:
            case["auc"] = auc
        cases.append(case)

    def labels_p(n, p):
        # Both classes present (the error cases are written on purpose, below).
        while True:
            y = [1 if rng.random() < p else 0 for _ in range(n)]
            if 0 < sum(y) < n:
                return y

    def informative(y, shift, noise=rng.gauss):
        # A score that leans towards the label by `shift` standard deviations.
        return [noise(0.0, 1.0) + shift * t for t in y]

    # Hand-sized cases.
    add("doc_example", [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    add("two_tied", [0.5, 0.5], [0, 1])
    add("two_sorted", [0.2, 0.7], [0, 1])
    add("two_reversed", [0.7, 0.2], [0, 1])
    add("tie_mixed", [0.2, 0.5, 0.5, 0.9], [0, 1, 0, 1])
    add("neg_zero_tie", [-0.0, 0.0, 1.0, -1.0], [1, 0, 1, 0])
    add("extremes", [5e-324, 1e-300, 1.7976931348623157e308, -1.7976931348623157e308, 0.0,
                     2.2250738585072014e-308], [1, 0, 1, 0, 0, 1])
    # Small random cases, continuous scores.
    for k in range(12):
        n = rng.choice([2, 3, 4, 5, 7, 10, 16, 25, 40])
        y = labels_p(n, rng.choice([0.3, 0.5, 0.7]))
        add("small_%d" % k, informative(y, rng.choice([-1.0, 0.0, 0.5, 1.5])), y)
    # Many ties: scores rounded to 1 or 2 decimals, or small integers.
    for k, (n, digits) in enumerate([(60, 1), (200, 1), (500, 2), (1000, 2), (3000, 1)]):
        y = labels_p(n, 0.4)
        s = [round(1.0 / (1.0 + math.exp(-v)), digits) for v in informative(y, 0.8)]
        add("ties_round%d_%d" % (digits, k), s, y)
    for k, (n, levels) in enumerate([(30, 2), (300, 3), (1000, 5), (2000, 4)]):
        y = labels_p(n, 0.5)
        s = [min(levels - 1, max(0, int(round(v + (levels - 1) / 2.0))))
             for v in informative(y, 0.7)]
        add("ties_int%d_%d" % (levels, k), s, y)
    # All tied: 0.5 whatever the labels.
    add("all_tied_small", [0.25] * 7, [0, 1, 1, 0, 1, 0, 0])
    y = labels_p(400, 0.3)
    add("all_tied_400", [-3.0] * 400, y)
    # Perfectly separated, reversed, and separated but for one tie at the boundary.
    y = labels_p(200, 0.5)
    pos = sorted(round(rng.uniform(0.6, 1.0), 6) for _ in range(sum(y)))
    neg = sorted(round(rng.uniform(0.0, 0.4), 6) for _ in range(len(y) - sum(y)))
    it_p, it_n = iter(pos), iter(neg)
    s = [next(it_p) if t else next(it_n) for t in y]
    add("separated", s, y)
    add("reversed", [-v for v in s], y)
    s2 = list(s)
    s2[y.index(1)] = 0.5
    s2[y.index(0)] = 0.5
    add("separated_but_one_tie", s2, y)
    # Imbalanced.
    y = [0] * 500
    y[rng.randrange(500)] = 1
    add("one_positive_500", [round(v, 6) for v in informative(y, 1.0)], y)
    y = [1] * 500
    y[rng.randrange(500)] = 0
    add("one_negative_500", [round(v, 6) for v in informative(y, 1.0)], y)
    y = [0] * 2000
    for i in rng.sample(range(2000), 5):
        y[i] = 1
    add("five_positive_2000", [round(v, 2) for v in informative(y, 2.0)], y)
    # What an eval harness scores: P(yes) and log P(yes) (Hateful Memes).
    # Full-precision doubles; at n = 300 the logits are steep enough that many
    # probabilities round to exactly 1.0 (log 0.0): ties across both classes.
    for k, n in enumerate([50, 300, 600]):
        y = labels_p(n, 0.37)
        logits = informative(y, 1.2)
        steep = 40.0 if k == 1 else 3.0
        probs = [1.0 / (1.0 + math.exp(-steep * v)) for v in logits]
        add("probabilities_%d" % n, probs, y)
        add("log_probabilities_%d" % n, [math.log(p) for p in probs], y)
    # Errors (sklearn raises or returns nan): one class only, a third label, non-finite
    # scores. Labels {0, 2} alone are no error to sklearn (2 is then the positive class) but
    # are to drum, which takes 0/1 only: tests/test_metrics.c checks that one directly.
    add("only_negatives", [rng.random() for _ in range(10)], [0] * 10, expect_error=True)
    add("only_positives", [rng.random() for _ in range(10)], [1] * 10, expect_error=True)
    add("single_example", [0.3], [1], expect_error=True)
    add("label_two", [0.1, 0.2, 0.3, 0.4], [0, 1, 2, 1], expect_error=True)
    add("nan_score", [0.1, float("nan"), 0.3, 0.4], [0, 1, 0, 1], expect_error=True)
    add("inf_score", [0.1, 0.2, float("inf"), 0.4], [0, 1, 0, 1], expect_error=True)
    add("neg_inf_score", [float("-inf"), 0.2, 0.3, 0.4], [0, 1, 0, 1], expect_error=True)
    return cases


def write_roc(out):
    import platform

    import numpy
    import sklearn
    cases = roc_cases(random.Random(20261201))
    meta = {"kind": "meta", "reference": "sklearn.metrics.roc_auc_score(labels, scores)",
            "sklearn": sklearn.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "generator": "tools/gen_metric_fixtures.py"}
    with open(os.path.join(out, "roc_auc.jsonl"), "w") as f:
        f.write(json.dumps(meta) + "\n")
        for c in cases:
            f.write(json.dumps(c, separators=(",", ":")) + "\n")
    n_err = sum(1 for c in cases if c["kind"] == "error")
    print("roc: %d cases + %d error cases (sklearn %s)"
          % (len(cases) - n_err, n_err, sklearn.__version__), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join("tests", "fixtures", "metrics"))
    ap.add_argument("--only", choices=["roc", "cider-large"],
                    help="write only this fixture (roc: roc_auc.jsonl, needs scikit-learn only; "
                         "cider-large: the large set of cider.json, needs pycocoevalcap only)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.only == "roc":
        write_roc(args.out)
        return
    if args.only == "cider-large":
        write_cider_large(args.out)
        return
    rng = random.Random(20241209)
    vqa = vqa_cases(rng)
    with open(os.path.join(args.out, "vqa.jsonl"), "w") as f:
        for c in vqa:
            f.write(json.dumps(c) + "\n")
    sets, tokens = caption_sets(rng)
    sets.append(large_cider_set())
    with open(os.path.join(args.out, "ptb_tokens.jsonl"), "w") as f:
        for t in tokens:
            f.write(json.dumps(t) + "\n")
    with open(os.path.join(args.out, "cider.json"), "w") as f:
        json.dump({"sets": sets}, f, indent=1)
        f.write("\n")
    n_norm = sum(1 for c in vqa if c["kind"] == "norm")
    print("vqa: %d normalisation + %d accuracy cases; ptb: %d captions; cider: %d sets (%s)"
          % (n_norm, len(vqa) - n_norm, len(tokens), len(sets),
             ", ".join("%s=%.6f" % (s["name"], s["mean"]) for s in sets)), file=sys.stderr)
    write_roc(args.out)


if __name__ == "__main__":
    main()
