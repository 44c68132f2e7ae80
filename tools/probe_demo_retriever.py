#!/usr/bin/env python3
"""What does a demo retriever's image embedding see? (docs/DEMO_RESULTS.md)

For every held-out VQA query of a synthetic suite, takes the 4 nearest VQA pool images by
image-embedding cosine and measures how much of the query scene's hidden attributes they
share (meta.jsonl): colour set, shape set, object set (colour and shape together), object
count, background, and whether they contain the object the question is about; random pool
images give the chance level. For classification queries it reports how often the 4 nearest
pool images carry the query's label. Embeddings come from `drum embed`, so any checkpoint
drum writes works (runs/demo/clip0 is the un-tuned retriever, runs/demo/roundN the tuned).

    python tools/probe_demo_retriever.py data/demo runs/demo/clip0 [--drum build/drum]

Needs numpy only (not run by CI).
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np


def read_emb(path):
    b = open(path, "rb").read()
    if b[:8] != b"DRUMEMB1":
        sys.exit(f"{path}: not a drum embedding file")
    n, di, dt = struct.unpack_from("<III", b, 12)
    o, ids = 24, []
    for _ in range(n):
        (ln,) = struct.unpack_from("<I", b, o)
        ids.append(b[o + 4:o + 4 + ln].decode())
        o += 4 + ln
    img = np.frombuffer(b, np.float32, n * di, o).reshape(n, di)
    txt = np.frombuffer(b, np.float32, n * dt, o + 4 * n * di).reshape(n, dt)
    return ids, img, txt


def embed(drum, data, split, model, tmp):
    out = os.path.join(tmp, split + ".emb")
    cmd = [drum, "embed", "--data", os.path.join(data, split + ".jsonl"), "--model", model,
           "--tokenizer", data, "--out", out, "--no-text"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    ids, img, _ = read_emb(out)
    return ids, img


def objects(m):
    return {(o["color"], o["shape"]) for o in m["scene"]["objects"]}


def jaccard(a, b):
    return len(a & b) / len(a | b) if a | b else 1.0


def agreement(meta, qids, pids, neighbours):
    keys = ("objects", "colours", "shapes", "count", "background", "has asked object")
    tot = dict.fromkeys(keys, 0.0)
    n = n_focus = 0
    for q, row in zip(qids, neighbours):
        mq = meta[q]
        oq = objects(mq)
        focus = mq["scene"]["objects"][mq["focus"]] if mq.get("focus", -1) >= 0 else None
        for c in row:
            mc = meta[pids[c]]
            oc = objects(mc)
            tot["objects"] += jaccard(oq, oc)
            tot["colours"] += jaccard({o[0] for o in oq}, {o[0] for o in oc})
            tot["shapes"] += jaccard({o[1] for o in oq}, {o[1] for o in oc})
            tot["count"] += len(oq) == len(oc)
            tot["background"] += mq["scene"]["background"] == mc["scene"]["background"]
            if focus:
                tot["has asked object"] += (focus["color"], focus["shape"]) in oc
                n_focus += 1
            n += 1
    return {k: tot[k] / (n_focus if k == "has asked object" else n) for k in keys}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="synthetic suite directory (train/eval/meta.jsonl)")
    ap.add_argument("model", help="checkpoint directory (config.json, model.safetensors)")
    ap.add_argument("--drum", default="build/drum")
    ap.add_argument("-k", type=int, default=4)
    a = ap.parse_args()
    meta = {}
    for line in open(os.path.join(a.data, "meta.jsonl")):
        m = json.loads(line)
        meta[m["id"]] = m
    with tempfile.TemporaryDirectory() as tmp:
        pool_ids, pool = embed(a.drum, a.data, "train", a.model, tmp)
        query_ids, queries = embed(a.drum, a.data, "eval", a.model, tmp)
    rng = np.random.default_rng(0)
    for task in ("vqa", "cls"):
        p = [i for i, x in enumerate(pool_ids) if meta[x]["task"] == task]
        q = [i for i, x in enumerate(query_ids) if meta[x]["task"] == task]
        if not p or not q:
            continue
        pids, qids = [pool_ids[i] for i in p], [query_ids[i] for i in q]
        near = np.argsort(-(queries[q] @ pool[p].T), axis=1)[:, :a.k]
        rand = np.array([rng.choice(len(p), a.k, replace=False) for _ in q])
        if task == "vqa":
            top, chance = agreement(meta, qids, pids, near), agreement(meta, qids, pids, rand)
            print(f"VQA: {len(q)} queries, {len(p)} pool images; the {a.k} nearest by image "
                  f"embedding vs {a.k} random")
            print(f"  {'shared with the query':<22}{'nearest':>9}{'random':>9}")
            for k in top:
                print(f"  {k:<22}{top[k]:9.3f}{chance[k]:9.3f}")
        else:
            def same(nb):
                return np.mean([[meta[pids[c]]["gold"] == meta[x]["gold"] for c in row]
                                for x, row in zip(qids, nb)])
            print(f"cls: same label among the {a.k} nearest {same(near):.3f}, "
                  f"among {a.k} random {same(rand):.3f}")


if __name__ == "__main__":
    main()
