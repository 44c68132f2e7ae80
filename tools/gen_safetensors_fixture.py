#!/usr/bin/env python3
"""Generates tests/fixtures/safetensors/: a tiny CLIPModel checkpoint written by the
`safetensors` package with a mix of F32, F16 and BF16 tensors, its config.json written by
transformers, and the same tensors converted to float32 by torch (the expected values).

    /work/venv/bin/python tools/gen_safetensors_fixture.py [outdir]

Files:
  config.json                 CLIPConfig.save_pretrained() of the tiny config
  tiny_mixed.safetensors      CLIPModel(config).state_dict(), tensor i stored as
                              (F32, F16, BF16)[i % 3], with special values (subnormals,
                              -0, infinities, the largest finite) placed in some tensors,
                              plus the legacy int64 position_ids buffers
  tiny_mixed_f32.safetensors  every parameter of tiny_mixed as torch's .float() of it
"""
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "safetensors")

TEXT = dict(hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
            vocab_size=32, max_position_embeddings=7, bos_token_id=30, eos_token_id=31,
            pad_token_id=0, hidden_act="quick_gelu", layer_norm_eps=1e-5)
VISION = dict(hidden_size=12, intermediate_size=20, num_hidden_layers=2, num_attention_heads=3,
              image_size=8, patch_size=4, num_channels=3, hidden_act="gelu",
              layer_norm_eps=1e-6)

# Values whose conversion is easy to get wrong, per storage dtype.
SPECIAL = {
    torch.float16: [2.0 ** -24, -(2.0 ** -24), 2.0 ** -15, 6.1e-5, -0.0, 65504.0, -65504.0,
                    float("inf"), float("-inf"), 1.0 / 3.0],
    torch.bfloat16: [1e-40, -1e-39, -0.0, 3.0e38, -3.0e38, float("inf"), float("-inf"),
                     1.0 / 3.0, 2.0 ** -133],
    torch.float32: [1e-45, -0.0, 3.4028234663852886e38, 1.0 / 3.0],
}


def main():
    torch.manual_seed(0)
    cfg = CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=6,
                     logit_scale_init_value=2.5)
    model = CLIPModel(cfg).eval()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()
             if not k.endswith("position_ids")}
    dtypes = (torch.float32, torch.float16, torch.bfloat16)
    mixed, ref = {}, {}
    for i, name in enumerate(sorted(state)):
        t = state[name].float()
        # Random values everywhere (initialisers leave biases at 0 and norms at 1).
        t = torch.randn(t.shape, generator=torch.Generator().manual_seed(i)) * (i % 5 + 1)
        dt = dtypes[i % 3]
        flat = t.reshape(-1)
        if flat.numel() >= 16:
            sp = SPECIAL[dt]
            flat[: len(sp)] = torch.tensor(sp, dtype=torch.float64).float()
        stored = t.to(dt).contiguous()
        mixed[name] = stored
        ref[name] = stored.float().contiguous()
    # transformers < 4.31 saved these int64 buffers; readers must skip them.
    mixed["text_model.embeddings.position_ids"] = torch.arange(TEXT["max_position_embeddings"]).unsqueeze(0)
    n_pos = (VISION["image_size"] // VISION["patch_size"]) ** 2 + 1
    mixed["vision_model.embeddings.position_ids"] = torch.arange(n_pos).unsqueeze(0)

    os.makedirs(OUT, exist_ok=True)
    cfg.save_pretrained(OUT)
    save_file(mixed, os.path.join(OUT, "tiny_mixed.safetensors"), metadata={"format": "pt"})
    save_file(ref, os.path.join(OUT, "tiny_mixed_f32.safetensors"), metadata={"format": "pt"})
    n = sum(v.numel() for v in ref.values())
    print(f"wrote {OUT}: {len(ref)} parameter tensors, {n} floats")


if __name__ == "__main__":
    main()
