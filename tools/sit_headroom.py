#!/usr/bin/env python3
"""How much could SIT's image half add? A noise-free look at a demo run (docs/DEMO_RESULTS.md).

For the held-out queries of a `drum demo` run (VQA, classification and captioning), recomputes
the simulated LVLM's expected P(correct) at 4 shots (docs/SIMULATOR.md §2: the same quantity as
results.jsonl's `p_correct`, with no sampling noise) for demonstrations retrieved by

  SI, ST          image or text cosine alone (the run's own embeddings, via `drum embed`)
  SIT lam         text cosine + lam * image cosine, for a sweep of lam (the job's SIT is
                  lam = (w_image / w_text)^2: 1 in experiments/demo.yaml)
  ideal:FEATURES  the same sweep with the image embedding replaced by a perfect one built
                  from the hidden scene: `objects` (a multi-hot of colour-and-shape pairs),
                  `shapes`, `colours`, `count`, `large` (the first object's colour: the
                  large one of a classification scene), or a '+' of them
  oracle          the pool ranked by the simulator's benefit itself (the ceiling)

and prints them per question type (classification claims, `synth.classification: claim`, are
their own type), with, for classification, the fraction of the top k whose label is the
query's ("same label"). Then SIT (the job's weight) against ST and SI, for VQA and
classification with the standard deviation of the sampled accuracies' difference under either
rule set.

With --model RUN/roundN the checkpoint is DRUM's after round N, and its SIT row is checked
against the job's DRUM rN row instead. With --tuned RUN/roundN, DRUM's retrieval (that
checkpoint, the job's weights) is also compared with SI, ST and SIT query by query. With
--queries train the training queries are scored against the pool instead, each without the
examples of its own image, to choose settings without the held-out queries.

Queries use the run's drafts (drafts.jsonl) exactly as the job does. The benefit rules are
re-implemented here; the script checks them by matching its SI/ST/SIT numbers against the
run's results.jsonl (4-shot p_correct rows) and stops if they differ.

    python tools/sit_headroom.py data/demo runs/demo [--model runs/demo/clip0]
           [--ideal objects+count,shapes] [--scorer-seed 7] [--rules 2] [--w-image 1.0]
           [--queries train]

Needs numpy; not run by CI. Takes about 30 s for the demo's 1500 queries.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from probe_demo_retriever import read_emb  # noqa: E402  (same directory)

# ---- the simulator's rules (src/score/synthetic.c) ------------------------------------
MASK = (1 << 64) - 1
SYNONYMS = {"violet": "purple", "middle": "center", "centre": "center", "in the middle": "center",
            "in the center": "center", "left side": "left", "on the left": "left",
            "right side": "right", "on the right": "right", "box": "square", "round": "circle",
            "donut": "ring", "plus": "cross", "rhombus": "diamond", "zero": "0", "one": "1",
            "two": "2", "three": "3", "four": "4", "five": "5"}
ZERO_SHOT = {"color": -0.4, "shape": -0.4, "count": -0.8, "position": -0.6, "exists": 0.0,
             "cls": -0.3, "claim": 0.2, "caption": -0.3}
SHAPES = ["circle", "square", "triangle", "cross", "star", "diamond", "ring"]
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]


def hash64(a, b):
    z = (a * 0x9E3779B97F4A7C15 + b + 0x632BE59BD9B4E019) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def fnv1a(s):
    h = 1469598103934665603
    for c in s.encode():
        h = ((h ^ c) * 1099511628211) & MASK
    return h


def canon(text):
    s = " ".join(text.lower().split()).strip(" \t\n\r.,!?;:\"'")
    for article in ("the ", "a ", "an "):
        if s.startswith(article):
            s = s[len(article):]
            break
    return SYNONYMS.get(s, s)


def objects(m):
    return [(o["shape"], o["color"], o["pos"]) for o in m["scene"]["objects"]]


def subject(m):
    if m.get("qtype") == "exists":
        return (m["ask"]["shape"], m["ask"]["color"], None)
    return objects(m)[m["focus"]] if m["focus"] >= 0 else None


def resemblance(x, c):
    """Rules 2: Jaccard of the scenes' object colours, +0.3 for the same number of objects."""
    cx, cc = {o[1] for o in objects(x)}, {o[1] for o in objects(c)}
    return len(cx & cc) / len(cx | cc) + (0.3 if len(objects(x)) == len(objects(c)) else 0.0)


def rules(x, c, c_response, version):
    """b(x, c) without the idiosyncrasy, for two examples of the same task family."""
    if version >= 2:
        return resemblance(x, c) + rules(x, c, c_response, 1)
    answer = canon(c_response)
    cobj = objects(c)
    if x["task"] == "caption":  # the response's style, x's objects in c's scene, the count
        style = caption_style(c_response)
        xobj = objects(x)
        shared = sum(any(o[:2] == y[:2] for o in cobj) for y in xobj)
        return ((0.4, 0.1, -0.3)[style if style >= 0 else c["style"]] + 0.6 * shared / len(xobj)
                + (0.2 if len(cobj) == len(xobj) else 0.0))
    if x["task"] == "cls" and "claim" in x:  # a colour claim: true or false
        return 1.2 if answer == x["gold"] else -0.6
    if x["task"] == "cls":
        label = objects(x)[x["focus"]][0]
        b = 1.2 if answer == x["gold"] else -0.1
        b += 0.15 if any(o[0] == label for o in cobj) else 0.0
        return b + (0.1 if len(cobj) == len(objects(x)) else 0.0)
    q, sx, b = x["qtype"], subject(x), 0.0
    if c["qtype"] == q:
        b += 0.5 + (1.0 if answer == x["gold"] else -0.6)
        sc = subject(c)
        if sx and sc:
            same = (sc[0] == sx[0] if q == "color" else sc[1] == sx[1] if q == "shape"
                    else sc[0] == sx[0] and sc[1] == sx[1])
            b += 0.2 if same else 0.0
    if q == "count":
        d = abs(len(cobj) - len(objects(x)))
        b += 0.3 if d == 0 else 0.1 if d == 1 else 0.0
    elif sx:
        if any(o[0] == sx[0] and o[1] == sx[1] for o in cobj):
            b += 0.6
            if q == "position" and any(o[:2] == sx[:2] and o[2] == sx[2] for o in cobj):
                b += 0.1
        else:
            has_shape = any(o[0] == sx[0] for o in cobj)
            has_colour = any(o[1] == sx[1] for o in cobj)
            key = (has_colour if q == "shape" else has_shape if q == "color"
                   else has_shape or has_colour)
            b += 0.15 if key else 0.0
    return b


def caption_style(text):
    """The phrasing style of a caption (sw_caption_style): 1 "there is ...", 2 "...: ...",
    0 "a ..."/"an ...", else -1."""
    if text.startswith("there is"):
        return 1
    if ":" in text:
        return 2
    return 0 if text.startswith(("a ", "an ")) else -1


def idiosyncrasy(seed, qid, did, noise):
    h = hash64(hash64(seed, fnv1a(qid)), fnv1a(did))
    u = sum(((h >> (16 * i)) & 0xFFFF) / 65536.0 for i in range(4))
    return noise * (u - 2.0) * 1.7320508075688772


def p_correct(b_in_prompt_order, zero_logit):
    k = len(b_in_prompt_order)
    w = 2.0 * np.arange(1, k + 1) / (k * (k + 1))
    z = zero_logit + (1 + 0.5 * np.log2(k)) * float(w @ b_in_prompt_order)
    return 0.92 / (1 + np.exp(-z))


def paired(name_a, pa, name_b, pb):
    """A's minus B's mean P(correct), with the standard deviation of the sampled accuracies'
    difference: rules 2 share each query's draw (right iff u < P), so only queries whose P
    differ can disagree; rules 1 draw the two answers independently."""
    d, n = pa - pb, len(pa)
    sd2 = np.sqrt(np.sum(np.abs(d) - d * d)) / n
    sd1 = np.sqrt(np.sum(pa * (1 - pa) + pb * (1 - pb))) / n
    return (f"  {name_a} - {name_b}: {d.mean():+.4f}; sd of the sampled difference "
            f"{sd2:.4f} (rules 2), {sd1:.4f} (rules 1)")


# ---- retrieval and evaluation ----------------------------------------------------------
def top_k(sim, k):
    """Each query's top k by sim (ties by pool order), most similar last."""
    return [np.argsort(-row, kind="stable")[:k][::-1] for row in sim]


def same_label(sim, shown, gold, k):
    """The fraction of each query's top k whose response is its label, averaged."""
    return np.mean([np.mean(shown[t] == g) for t, g in zip(top_k(sim, k), gold)])


def expected(sim, benefit, zero_logits, k):
    """Mean P(correct) per query: top k by sim (ties by pool order), most similar last."""
    return np.array([p_correct(benefit[a, top], zero_logits[a])
                     for a, top in enumerate(top_k(sim, k))])


def ideal_embedding(m, features):
    v = np.zeros(len(SHAPES) * len(COLOURS) + len(SHAPES) + len(COLOURS) + 4 + len(COLOURS))
    objs = objects(m)
    for shape, colour, _ in objs:
        s, c = SHAPES.index(shape), COLOURS.index(colour)
        if "objects" in features:
            v[s * len(COLOURS) + c] += 1
        if "shapes" in features:
            v[56 + s] += 1
        if "colours" in features:
            v[63 + c] += 1
    if "count" in features:
        v[71 + len(objs) - 1] += 1
    if "large" in features:  # the colour of the first object (the large one in cls scenes)
        v[75 + COLOURS.index(objs[0][1])] += 1
    return v / np.linalg.norm(v)


def embed(drum, data, split, model, out, text, drafts=None):
    cmd = [drum, "embed", "--data", os.path.join(data, split + ".jsonl"), "--model", model,
           "--tokenizer", data, "--out", out, "--text", text]
    if drafts:
        cmd += ["--drafts", drafts]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return read_emb(out)


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_p_correct(run, model, shots):
    """The job's own p_correct rows at `shots` for this checkpoint (name -> task -> value):
    SI, ST and SIT for RUN/clip0, SIT (the job's DRUM row of that round) for RUN/roundN."""
    path = os.path.join(run, "results.jsonl")
    rows = load_jsonl(path) if os.path.exists(path) else []
    rows = [r for r in rows if r.get("shots") == shots and "p_correct" in r]
    name = os.path.basename(os.path.normpath(model))
    if os.path.dirname(os.path.normpath(model)) != os.path.normpath(run):
        return {}
    if name == "clip0":
        return {r["strategy"]: r["p_correct"] for r in rows
                if r["strategy"] in ("SI", "ST", "SIT")}
    if name.startswith("round") and name[5:].isdigit():
        return {"SIT": r["p_correct"] for r in rows
                if r["strategy"] == "DRUM" and r.get("round") == int(name[5:])}
    return {}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="the run's synthetic suite (train/eval/meta.jsonl)")
    ap.add_argument("run", help="the run directory (drafts.jsonl, clip0/, results.jsonl)")
    ap.add_argument("--model", help="checkpoint directory (default RUN/clip0)")
    ap.add_argument("--drum", default="build/drum")
    ap.add_argument("--scorer-seed", type=int, default=7, help="scorer.seed of the run")
    ap.add_argument("--noise", type=float, default=0.35, help="the simulator's idiosyncrasy sd")
    ap.add_argument("--rules", type=int, choices=(1, 2), default=2,
                    help="scorer.rules of the run (docs/SIMULATOR.md)")
    ap.add_argument("--w-image", type=float, default=1.0, help="retrieval.w_image of the run")
    ap.add_argument("--w-text", type=float, default=1.0, help="retrieval.w_text of the run")
    ap.add_argument("--ideal", default="objects+count,shapes+count,shapes,count",
                    help="comma-separated feature sets for ideal image embeddings ('' for none)")
    ap.add_argument("-k", type=int, default=4)
    ap.add_argument("--tuned", help="DRUM's checkpoint (RUN/roundN): also DRUM against SI, ST "
                    "and SIT, paired, with the sd of the sampled difference")
    ap.add_argument("--queries", choices=("eval", "train"), default="eval",
                    help="train: the training queries against the pool, each without the "
                    "examples of its own image (for choosing settings without looking at the "
                    "held-out queries)")
    a = ap.parse_args()
    model = a.model or os.path.join(a.run, "clip0")
    meta = {m["id"]: m for m in load_jsonl(os.path.join(a.data, "meta.jsonl"))}
    drafts = os.path.join(a.run, "drafts.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        pids, pimg, ptxt = embed(a.drum, a.data, "train", model, os.path.join(tmp, "p.emb"),
                                 "{P} {R}")
        qids, qimg, qtxt = embed(a.drum, a.data, a.queries, model, os.path.join(tmp, "q.emb"),
                                 "{P} {D}", drafts)
        if a.tuned:
            tuned = (embed(a.drum, a.data, "train", a.tuned, os.path.join(tmp, "tp.emb"), "{P} {R}"),
                     embed(a.drum, a.data, a.queries, a.tuned, os.path.join(tmp, "tq.emb"),
                           "{P} {D}", drafts))
    response = {e["id"]: e["response"] for e in load_jsonl(os.path.join(a.data, "train.jsonl"))}
    job_lam = (a.w_image / a.w_text) ** 2
    lams = sorted({0.05, 0.1, 0.25, 0.5, 1.0, 2.0, job_lam})
    job = run_p_correct(a.run, model, a.k) if a.queries == "eval" else {}
    for task in ("vqa", "cls", "caption"):
        q = [i for i, x in enumerate(qids) if meta[x]["task"] == task]
        p = [i for i, x in enumerate(pids) if meta[x]["task"] == task]
        if not q or not p:
            continue
        print(f"== {task}: {len(q)} queries, a pool of {len(p)}; mean P(correct) at {a.k} shots")
        benefit = np.array([[rules(meta[qids[i]], meta[pids[j]], response[pids[j]], a.rules) +
                             idiosyncrasy(a.scorer_seed, qids[i], pids[j], a.noise) for j in p]
                            for i in q])
        kinds = [meta[qids[i]].get("qtype", "claim" if "claim" in meta[qids[i]] else task)
                 for i in q]
        zero = np.array([ZERO_SHOT[t] for t in kinds])
        types = sorted(set(kinds))
        # A training query never retrieves itself, nor (unlike the job's mining) an example of
        # its own image: held-out queries have no such twin in the pool.
        itself = np.array([[meta[qids[i]]["image"] == meta[pids[j]]["image"] for j in p]
                           for i in q])
        ci, ct = qimg[q] @ pimg[p].T, qtxt[q] @ ptxt[p].T
        ci[itself] = ct[itself] = -1e9
        rows = [("SI", ci), ("ST", ct)] + [(f"SIT lam {lam:g}", ct + lam * ci) for lam in lams]
        for features in filter(None, a.ideal.split(",")):
            vq = np.array([ideal_embedding(meta[qids[i]], features) for i in q])
            vp = np.array([ideal_embedding(meta[pids[j]], features) for j in p])
            rows += [(f"ideal:{features} lam {lam:g}", ct + lam * (vq @ vp.T))
                     for lam in (0.1, 0.25, 0.5, 1.0)]
        rows.append(("oracle", np.where(itself, -1e9, benefit)))
        gold = np.array([meta[qids[i]]["gold"] for i in q])
        shown = np.array([canon(response[pids[j]]) for j in p])
        print(f"  {'retrieval':<32}{'all':>7}" + "".join(f"{t:>9}" for t in types) +
              ("  same label" if task == "cls" else ""))
        values = {}
        for name, sim in rows:
            v = values[name] = expected(sim, benefit, zero, a.k)
            agree = f"{same_label(sim, shown, gold, a.k):12.3f}" if task == "cls" else ""
            print(f"  {name:<32}{v.mean():7.4f}" +
                  "".join(f"{v[[k == t for k in kinds]].mean():9.4f}" for t in types) + agree)
            strategy = {"SI": "SI", "ST": "ST", f"SIT lam {job_lam:g}": "SIT"}.get(name)
            if strategy and strategy not in job:
                continue
            if strategy in job and abs(job[strategy][task] - v.mean()) > 5e-4:
                sys.exit(f"{strategy} {task}: {v.mean():.4f} here, {job[strategy][task]:.4f} in "
                         f"{a.run}/results.jsonl: the rules here no longer match the simulator "
                         f"(or --scorer-seed/--noise/--rules/--w-image differ from the run's)")
        def compare(name_a, va, name_b, vb):
            if task == "caption":  # per-object draws: paired()'s sd is for short answers
                print(f"  {name_a} - {name_b}: {(va - vb).mean():+.4f}")
            else:
                print(paired(name_a, va, name_b, vb))

        sit = values[f"SIT lam {job_lam:g}"]
        compare("SIT", sit, "ST", values["ST"])
        compare("SIT", sit, "SI", values["SI"])
        if a.tuned:
            (_, tpimg, tptxt), (_, tqimg, tqtxt) = tuned
            tsim = tqtxt[q] @ tptxt[p].T + job_lam * (tqimg[q] @ tpimg[p].T)
            tsim[itself] = -1e9
            v = expected(tsim, benefit, zero, a.k)
            want = run_p_correct(a.run, a.tuned, a.k).get("SIT", {}).get(task)
            if want is not None and abs(want - v.mean()) > 5e-4:
                sys.exit(f"DRUM {task}: {v.mean():.4f} here, {want:.4f} in the run's results")
            agree = (f", same label {same_label(tsim, shown, gold, a.k):.3f}"
                     if task == "cls" else "")
            print(f"  DRUM ({a.tuned}): {v.mean():.4f}{agree}")
            for name in ("SI", "ST", f"SIT lam {job_lam:g}"):
                compare("DRUM", v, name.split()[0], values[name])


if __name__ == "__main__":
    main()
