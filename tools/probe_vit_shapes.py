#!/usr/bin/env python3
"""Can the demo's tiny vision tower learn shapes at all? (docs/DEMO_RESULTS.md)

Trains the vision tower of the demo CLIP (hidden 64, 2 layers, 4 heads, quick_gelu, as
src/train/demo_model.c builds it) from scratch with a linear head, supervised, on a
synthetic suite's images, and reports held-out accuracy: the shape of the large object of
classification scenes (7 classes), and per-attribute accuracy of "which shapes / colours
are in the scene" over all scenes (multi-label). It bounds what contrastive pre-training on
captions can teach the same tower in the same number of steps.

    python tools/probe_vit_shapes.py DATA_DIR [--patch 16] [--steps 1000]

DATA_DIR: a suite written by `drum synth` or `drum demo` (a big one helps: e.g. `drum demo
--set synth.n_train=20000 --set model.pretrain.epochs=0 --set train.rounds=0`). Needs
torch, transformers, pillow and numpy (tools/ venv; not run by CI).
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from transformers import CLIPVisionConfig, CLIPVisionModel

SHAPES = ["circle", "square", "triangle", "cross", "star", "diamond", "ring"]
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
STD = np.array([0.26862954, 0.26130258, 0.27577711])


def load(data):
    scenes, task = {}, {}
    for line in open(os.path.join(data, "meta.jsonl")):
        m = json.loads(line)
        scenes[m["image"]] = m["scene"]["objects"]
        task[m["image"]] = m["task"]
    keys = sorted(scenes)
    x = []
    for k in keys:
        a = np.asarray(Image.open(os.path.join(data, "images", k + ".png")).convert("RGB"),
                       np.float32) / 255
        x.append(((a - MEAN) / STD).transpose(2, 0, 1))
    return keys, scenes, task, torch.tensor(np.array(x), dtype=torch.float32)


def train(x, y, n_out, loss_fn, a):
    torch.manual_seed(0)
    side = x.shape[-1]
    cfg = CLIPVisionConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                           num_attention_heads=4, image_size=side, patch_size=a.patch,
                           hidden_act="quick_gelu")
    tower, head = CLIPVisionModel(cfg), nn.Linear(64, n_out)
    opt = torch.optim.AdamW(list(tower.parameters()) + list(head.parameters()), lr=1e-3,
                            weight_decay=0.1)
    n_train = len(x) - a.held_out
    for _ in range(a.steps):
        idx = torch.randint(0, n_train, (a.batch,))
        loss = loss_fn(head(tower(pixel_values=x[idx]).pooler_output), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return head(tower(pixel_values=x[n_train:]).pooler_output), y[n_train:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--patch", type=int, default=0, help="patch side (default: image side / 4)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--held-out", type=int, default=500)
    a = ap.parse_args()
    keys, scenes, task, x = load(a.data)
    if not a.patch:
        a.patch = x.shape[-1] // 4
    cls = [i for i, k in enumerate(keys) if task[k] == "cls"]
    y = torch.tensor([SHAPES.index(scenes[keys[i]][0]["shape"]) for i in cls])
    logits, truth = train(x[cls], y, len(SHAPES), nn.functional.cross_entropy, a)
    print(f"large object's shape ({len(cls)} classification images, patch {a.patch}, "
          f"{a.steps} steps): held-out accuracy {(logits.argmax(1) == truth).float().mean():.3f}"
          f" (chance {1 / len(SHAPES):.3f})")
    multi = np.zeros((len(keys), len(SHAPES) + len(COLOURS)), np.float32)
    for i, k in enumerate(keys):
        for o in scenes[k]:
            multi[i, SHAPES.index(o["shape"])] = 1
            multi[i, len(SHAPES) + COLOURS.index(o["color"])] = 1
    logits, truth = train(x, torch.tensor(multi), multi.shape[1],
                          nn.functional.binary_cross_entropy_with_logits, a)
    acc = ((logits > 0) == (truth > 0)).float().mean(0)
    base = 1 - truth.mean(0)
    ns = len(SHAPES)
    print(f"which shapes are present ({len(keys)} images): per-shape accuracy "
          f"{acc[:ns].mean():.3f} (always 'absent' {base[:ns].mean():.3f}); which colours: "
          f"{acc[ns:].mean():.3f} (always 'absent' {base[ns:].mean():.3f})")


if __name__ == "__main__":
    main()
