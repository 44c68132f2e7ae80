#!/usr/bin/env python3
"""transformers' CLIPModel throughput on the configurations tools/bench/bench_clip.c times:
image encoding and a full contrastive training step (both towers, forward + backward +
clip_grad_norm + AdamW) for ViT-B/32 and ViT-L/14, random weights, random pixels,
full-length random token ids (77 tokens).

Modes: fp32 (TF32 off, like drum's default, SDPA attention) and bf16 (torch.autocast bf16,
SDPA). Each row is also printed as "RESULT <config> <task> torch-<mode> <batch> <images/s>"
for tools/gpu_check_clip.sh.

Timing as bench_clip's: on cuda 3 warm-up iterations, then 5 windows of at least 10
iterations and 1 s each; a row gives the median window's images/s and the slowest and
fastest (on cpu one window of 2).

Usage: /work/venv/bin/python tools/bench_torch_clip.py [cuda|cpu] [batch] [windows]
"""
import sys
import time

import torch
from transformers import CLIPConfig, CLIPModel

CONFIGS = {
    "ViT-B/32": dict(
        text=dict(hidden_size=512, num_attention_heads=8, intermediate_size=2048, num_hidden_layers=12,
                  vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu"),
        vision=dict(hidden_size=768, num_attention_heads=12, intermediate_size=3072, num_hidden_layers=12,
                    image_size=224, patch_size=32, hidden_act="quick_gelu"),
        projection_dim=512),
    "ViT-L/14": dict(
        text=dict(hidden_size=768, num_attention_heads=12, intermediate_size=3072, num_hidden_layers=12,
                  vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu"),
        vision=dict(hidden_size=1024, num_attention_heads=16, intermediate_size=4096, num_hidden_layers=24,
                    image_size=224, patch_size=14, hidden_act="quick_gelu"),
        projection_dim=768),
}


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


def bench(name, task, mode, dev, B, warm, reps, windows):
    c = CONFIGS[name]
    cfg = CLIPConfig(text_config=c["text"], vision_config=c["vision"], projection_dim=c["projection_dim"])
    with torch.device(dev):
        model = CLIPModel._from_config(cfg, attn_implementation="sdpa").float()
    gen = torch.Generator(device="cpu").manual_seed(1)
    S, T, V = c["vision"]["image_size"], 77, c["text"]["vocab_size"]
    pixels = torch.randn((B, 3, S, S), generator=gen).to(dev)
    ids = torch.randint(0, V - 1, (B, T), generator=gen)
    ids[:, -1] = V - 1
    ids = ids.to(dev)
    use_bf16 = mode == "bf16"
    if task == "encode":
        model.eval()

        def step():
            with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16, enabled=use_bf16):
                model.get_image_features(pixel_values=pixels)
    else:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.1,
                                fused=(dev == "cuda"))

        def step():
            opt.zero_grad(set_to_none=False)
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=use_bf16):
                out = model(input_ids=ids, pixel_values=pixels, return_loss=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    t0 = time.perf_counter()
    for _ in range(warm):
        step()
    sync(dev)
    per_iter = (time.perf_counter() - t0) / warm if warm else 0.0
    if windows > 1 and per_iter > 0 and reps * per_iter < 1.0:
        reps = int(1.0 / per_iter) + 1
    rates = []
    for _ in range(windows):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        sync(dev)
        rates.append(B * reps / (time.perf_counter() - t0))
    rates.sort()
    del model
    if dev == "cuda":
        torch.cuda.empty_cache()
    return rates[len(rates) // 2], rates[0], rates[-1]


def main():
    dev = sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu")
    gpu = dev == "cuda"
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else (128 if gpu else 4)
    warm, reps = (3, 10) if gpu else (1, 2)
    windows = int(sys.argv[3]) if len(sys.argv) > 3 else (5 if gpu else 1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"bench_torch_clip on {dev} (torch {torch.__version__}), {warm} warm-up iterations, "
          f"{windows} window(s) of at least {reps} iterations"
          + (" and 1 s: the median window, and the slowest - fastest" if windows > 1 else ""))
    print(f"{'config':<9} {'task':<7} {'mode':<5} {'batch':>6} {'images/s':>12} {'ms/iter':>10} "
          f"{'range':>21}")
    rows = [("ViT-B/32", "encode", batch), ("ViT-L/14", "encode", batch if gpu else 1),
            ("ViT-B/32", "train", batch), ("ViT-L/14", "train", batch if gpu else 0)]
    for name, task, B in rows:
        for mode in ("fp32", "bf16"):
            if B == 0:
                print(f"{name:<9} {task:<7} {mode:<5} skipped on cpu")
                continue
            try:
                ips, slow, fast = bench(name, task, mode, dev, B, warm, reps, windows)
            except torch.OutOfMemoryError:
                print(f"# {name} {task} {mode} batch {B}: out of memory")
                torch.cuda.empty_cache()
                continue
            print(f"{name:<9} {task:<7} {mode:<5} {B:>6} {ips:>12.1f} {1e3 * B / ips:>10.2f} "
                  f"{slow:>10.1f} - {fast:>8.1f}")
            print(f"RESULT {name} {task} torch-{mode} {B} {ips:.3f}", flush=True)


if __name__ == "__main__":
    main()
