#!/usr/bin/env python3
"""Writes the CLIP parity fixtures under tests/fixtures/clip/<name>/ from Hugging Face
transformers' CLIPModel (float32, eager attention, CPU).

Each fixture directory holds:
  config.json, model.safetensors   save_pretrained(safe_serialization=True)
  inputs.safetensors               pixel_values (B,3,S,S) F32, input_ids (B,T) I32,
                                   attention_mask (B,T) I32, eos_pos (B) I32 (the token
                                   position transformers pools at)
  reference.safetensors            image_features / text_features (projected, unnormalised),
                                   image_embeds / text_embeds (L2-normalised),
                                   logits_per_image (B,B), loss (1),
                                   grad.<name> for every parameter (contrastive loss backward),
                                   and, when the fixture has them, adamw.<name>: the parameters
                                   after one torch.optim.AdamW step from those gradients
                                   (lr 1e-3, weight_decay 0.1, default betas and eps).

Weights are not HF's initialisation (std 0.02 makes attention uniform and LayerNorm an
identity, which would hide bugs): every tensor is redrawn with O(1) activations in mind.

Usage: /work/venv/bin/python tools/gen_clip_fixtures.py [outdir]   (default tests/fixtures/clip)
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

ADAMW = dict(lr=1e-3, weight_decay=0.1, betas=(0.9, 0.999), eps=1e-8)

FIXTURES = [
    dict(
        name="tiny_quickgelu",
        seed=1234,
        text=dict(hidden_size=36, num_attention_heads=3, intermediate_size=53, num_hidden_layers=2,
                  vocab_size=97, max_position_embeddings=11, hidden_act="quick_gelu",
                  layer_norm_eps=1e-5, bos_token_id=95, eos_token_id=2, pad_token_id=1),
        vision=dict(hidden_size=44, num_attention_heads=4, intermediate_size=71, num_hidden_layers=3,
                    image_size=20, patch_size=4, num_channels=3, hidden_act="quick_gelu",
                    layer_norm_eps=1e-5),
        projection_dim=19,
        logit_scale=2.3,
        B=4,
        T=9,
        # legacy eos_token_id == 2: transformers pools at argmax(input_ids), so the end token
        # is the largest id (96, like CLIP's 49407) and padding repeats it, as CLIP's
        # tokenizer does.
        eos_token=96,
        pad_token=96,
        lengths=[9, 4, 7, 2],
        adamw=True,
    ),
    dict(
        name="tiny_gelu",
        seed=4321,
        text=dict(hidden_size=30, num_attention_heads=5, intermediate_size=47, num_hidden_layers=3,
                  vocab_size=61, max_position_embeddings=10, hidden_act="gelu",
                  layer_norm_eps=1e-6, bos_token_id=60, eos_token_id=5, pad_token_id=0),
        vision=dict(hidden_size=28, num_attention_heads=2, intermediate_size=37, num_hidden_layers=1,
                    image_size=18, patch_size=6, num_channels=3, hidden_act="gelu",
                    layer_norm_eps=1e-6),
        projection_dim=13,
        logit_scale=1.7,
        B=3,
        T=10,
        # eos_token_id != 2: transformers pools at the first occurrence of eos_token_id;
        # the end token is a small id and padding is pad_token_id.
        eos_token=5,
        pad_token=0,
        lengths=[10, 3, 6],
        adamw=False,
    ),
]


def redraw_weights(model, gen):
    """O(1)-scale random weights: matrices ~ N(0, 1/fan_in), biases ~ N(0, 0.1^2),
    LayerNorm weights ~ 1 + N(0, 0.2^2), embeddings ~ N(0, 0.5^2)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            if "layer_norm" in name or "layrnorm" in name or "layernorm" in name:
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif "embedding" in name:
                if "patch_embedding" in name:
                    fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                    p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)
                else:
                    p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)


def make_ids(fx, gen):
    """Right-padded token ids, a start token, content, the end token; the attention mask;
    and the position transformers pools at (computed exactly as CLIPTextTransformer does)."""
    B, T = fx["B"], fx["T"]
    vocab = fx["text"]["vocab_size"]
    bos, eos, pad = fx["text"]["bos_token_id"], fx["eos_token"], fx["pad_token"]
    avoid = {bos, eos, pad}
    ids = torch.full((B, T), pad, dtype=torch.int64)
    mask = torch.zeros((B, T), dtype=torch.int64)
    for b, n in enumerate(fx["lengths"]):
        assert 2 <= n <= T
        ids[b, 0] = bos
        for t in range(1, n - 1):
            while True:
                tok = int(torch.randint(0, vocab, (1,), generator=gen))
                # content below the end token: the legacy argmax rule needs eos to be the max
                if tok not in avoid and tok < max(eos, vocab - 1):
                    break
            ids[b, t] = tok
        ids[b, n - 1] = eos
        mask[b, :n] = 1
    cfg_eos = fx["text"]["eos_token_id"]
    if cfg_eos == 2:
        eos_pos = ids.to(torch.int).argmax(dim=-1)
    else:
        eos_pos = (ids.to(torch.int) == cfg_eos).int().argmax(dim=-1)
    return ids, mask, eos_pos


def generate(fx, outdir):
    torch.manual_seed(fx["seed"])
    gen = torch.Generator().manual_seed(fx["seed"])
    cfg = CLIPConfig(text_config=fx["text"], vision_config=fx["vision"],
                     projection_dim=fx["projection_dim"], logit_scale_init_value=fx["logit_scale"])
    cfg._attn_implementation = "eager"
    model = CLIPModel(cfg).float()
    model.config._attn_implementation = "eager"
    model.text_model.config._attn_implementation = "eager"
    model.vision_model.config._attn_implementation = "eager"
    redraw_weights(model, gen)
    model.train()

    B = fx["B"]
    S = fx["vision"]["image_size"]
    pixels = torch.randn((B, 3, S, S), generator=gen)
    ids, mask, eos_pos = make_ids(fx, gen)

    out = model(input_ids=ids, pixel_values=pixels, attention_mask=mask, return_loss=True)
    image_features = out.vision_model_output.pooler_output
    text_features = out.text_model_output.pooler_output
    assert torch.allclose(image_features / image_features.norm(dim=-1, keepdim=True), out.image_embeds)
    model.zero_grad()
    out.loss.backward()

    d = os.path.join(outdir, fx["name"])
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    save_file({
        "pixel_values": pixels.contiguous(),
        "input_ids": ids.to(torch.int32).contiguous(),
        "attention_mask": mask.to(torch.int32).contiguous(),
        "eos_pos": eos_pos.to(torch.int32).contiguous(),
    }, os.path.join(d, "inputs.safetensors"))

    ref = {
        "image_features": image_features.detach().contiguous(),
        "text_features": text_features.detach().contiguous(),
        "image_embeds": out.image_embeds.detach().contiguous(),
        "text_embeds": out.text_embeds.detach().contiguous(),
        "logits_per_image": out.logits_per_image.detach().contiguous(),
        "loss": out.loss.detach().reshape(1).contiguous(),
    }
    for name, p in model.named_parameters():
        ref["grad." + name] = p.grad.detach().clone().contiguous()
    if fx["adamw"]:
        opt = torch.optim.AdamW(model.parameters(), **ADAMW)
        opt.step()
        for name, p in model.named_parameters():
            ref["adamw." + name] = p.detach().clone().contiguous()
    save_file(ref, os.path.join(d, "reference.safetensors"),
              metadata={"adamw": json.dumps({**ADAMW, "betas": list(ADAMW["betas"])})})
    print(f"{d}: loss {out.loss.item():.6f}, eos_pos {eos_pos.tolist()}")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "fixtures", "clip")
    torch.use_deterministic_algorithms(True)
    for fx in FIXTURES:
        generate(fx, outdir)
    readme = os.path.join(outdir, "README.md")
    with open(readme, "w") as f:
        f.write(README)


README = """# CLIP parity fixtures

Tiny random `transformers.CLIPModel`s with their inputs, outputs and gradients, read by
tests/test_clip_parity.c. Regenerate (needs torch, transformers, safetensors) from the
repository root:

    /work/venv/bin/python tools/gen_clip_fixtures.py

| fixture | act | text (C/heads/I/layers, vocab, max_pos) | vision (C/heads/I/layers, image/patch) | proj | eos rule |
|---------|-----|------------------------------------------|-----------------------------------------|------|----------|
| tiny_quickgelu | quick_gelu | 36/3/53/2, 97, 11 | 44/4/71/3, 20/4 | 19 | legacy `eos_token_id == 2`: argmax of ids |
| tiny_gelu | gelu (erf) | 30/5/47/3, 61, 10 | 28/2/37/1, 18/6 | 13 | first `eos_token_id` (5) |

Files per fixture: `config.json` + `model.safetensors` (save_pretrained), `inputs.safetensors`
(pixel_values, input_ids, attention_mask, eos_pos), `reference.safetensors` (features,
embeddings, logits_per_image, loss, `grad.<name>` for every parameter, and for tiny_quickgelu
`adamw.<name>`: the parameters after one torch.optim.AdamW step, lr 1e-3, weight decay 0.1).
Weights are redrawn at O(1) scale (see the generator's docstring); float32, eager attention.
"""

if __name__ == "__main__":
    main()
