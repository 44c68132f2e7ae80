#!/usr/bin/env python3
"""Checks that transformers loads what drum exports (run by hand, not by CI).

    make CUDA=0 build/libdrum.a && /work/venv/bin/python tools/check_export.py

1. Builds a small driver against build/libdrum.a that loads the fixture
   tests/fixtures/safetensors/{config.json, tiny_mixed.safetensors} (F32/F16/BF16) and
   calls drum_clip_export() into a temporary directory; also writes config.json for each
   OpenAI configuration with drum_clip_config_save().
2. CLIPModel.from_pretrained(export dir) must report no missing, unexpected or mismatched
   keys, and every parameter must equal, bit for bit, torch's float32 conversion of the
   fixture (tiny_mixed_f32.safetensors).
3. Each standard config.json must give a CLIPModel with transformers' parameter count.
Prints one line per check and exits non-zero on the first failure.
"""
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import CLIPConfig, CLIPModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIX = os.path.join(ROOT, "tests", "fixtures", "safetensors")
STANDARD = {"ViT-B/32": 151277313, "ViT-B/16": 149620737, "ViT-L/14": 427616513,
            "ViT-L/14-336": 427944193}

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "drum/clip.h"
#include "drum/clip_io.h"
#include "drum/safetensors.h"
int main(int argc, char **argv) {
    char err[512], path[4096];
    drum_clip_config cfg;
    drum_clip_params p;
    if (drum_clip_config_load(&cfg, argv[1], err, sizeof err) ||
        drum_clip_params_build(&p, &cfg, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    float *w = malloc(p.total * sizeof(float));
    if (drum_clip_load_safetensors(&p, w, argv[2], err, sizeof err) ||
        drum_clip_export(&cfg, &p, w, argv[3], err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    const char *names[] = {"ViT-B/32", "ViT-B/16", "ViT-L/14", "ViT-L/14-336"};
    for (int i = 0; i < 4; i++) {
        drum_clip_config s;
        drum_clip_config_standard(&s, names[i]);
        snprintf(path, sizeof path, "%s/std%d.json", argv[4], i);
        if (drum_clip_config_save(&s, path, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    }
    drum_clip_params_free(&p);
    free(w);
    return 0;
}
"""


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        sys.exit(1)


def main():
    lib = os.path.join(ROOT, "build", "libdrum.a")
    check(os.path.exists(lib), f"{lib} exists (make CUDA=0 build/libdrum.a)")
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "driver.c"), os.path.join(tmp, "driver")
        with open(src, "w") as f:
            f.write(DRIVER)
        subprocess.run(["cc", "-std=c11", "-I" + os.path.join(ROOT, "include"), src, lib,
                        "-lcjson", "-lm", "-o", exe], check=True)
        out = os.path.join(tmp, "export")
        subprocess.run([exe, os.path.join(FIX, "config.json"),
                        os.path.join(FIX, "tiny_mixed.safetensors"), out, tmp], check=True)

        model, info = CLIPModel.from_pretrained(out, output_loading_info=True)
        for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
            check(not info.get(k), f"from_pretrained: no {k} ({info.get(k)})")
        ref = load_file(os.path.join(FIX, "tiny_mixed_f32.safetensors"))
        state = model.state_dict()
        names = [k for k in state if not k.endswith("position_ids")]
        check(sorted(names) == sorted(ref), f"{len(names)} parameters, the fixture has {len(ref)}")
        bad = [k for k in ref
               if state[k].dtype != torch.float32
               or not torch.equal(state[k].contiguous().view(torch.int32),
                                  ref[k].contiguous().view(torch.int32))]
        check(not bad, f"every parameter bit-identical to torch's float32 conversion ({bad[:3]})")
        c = model.config
        check(c.projection_dim == 6 and c.vision_config.hidden_act == "gelu"
              and c.text_config.eos_token_id == 31 and c.vision_config.layer_norm_eps == 1e-6,
              "config read back by transformers")

        for i, (name, count) in enumerate(STANDARD.items()):
            cfg = CLIPConfig.from_pretrained(os.path.join(tmp, f"std{i}.json"))
            with torch.device("meta"):
                n = sum(p.numel() for p in CLIPModel(cfg).parameters())
            check(n == count, f"{name}: drum's config.json gives {n} parameters in transformers "
                              f"(expected {count})")
    print("all checks passed")


if __name__ == "__main__":
    main()
