#!/usr/bin/env python3
"""Generates the CLIP image-preprocessing fixtures in tests/fixtures/image/.

    /work/venv/bin/python tools/gen_image_fixtures.py

Small images of odd sizes and modes are drawn with numpy and saved with PIL; transformers'
CLIPImageProcessorPil (the PIL backend, which is CLIPImageProcessor in transformers 4.x and
its fallback in 5.x without torchvision) preprocesses them. Two alpha conventions:
  drop   the image goes through PIL's .convert("RGB") first (alpha dropped; transformers 4.x)
  white  the processor's own convert_to_rgb (transformers 5: composite onto white)

cases.txt, one case per line:
  IMAGE SIZE CROP_H CROP_W ALPHA MEAN0 MEAN1 MEAN2 STD0 STD1 STD2 OUTPUT KIND
KIND f32: OUTPUT holds the processor's (3, CROP_H, CROP_W) float32 output, little endian.
KIND u8:  OUTPUT is an RGB PNG of uint8 levels L with output == (float32(L * (1/255)) - mean)
          / std in float32, which the generator checks bit for bit against the processor
          before writing (a lossless, much smaller encoding, used for the 224 crops).
"""
import argparse
import io
import os

import numpy as np
from PIL import Image

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def pattern(h, w, channels, seed):
    """Smooth gradients, hard-edged blocks, thin lines and mild noise: exercises both the
    filter's smoothing and its overshoot (clipping) at edges."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((h, w, channels))
    for c in range(channels):
        fx, fy = rng.uniform(0.5, 3.0, 2)
        out[..., c] = 127 + 100 * np.sin(2 * np.pi * (fx * x / w + fy * y / h + rng.uniform()))
        for _ in range(6):
            y0, x0 = rng.integers(0, h), rng.integers(0, w)
            out[y0:y0 + rng.integers(1, max(2, h // 3)), x0:x0 + rng.integers(1, max(2, w // 3)), c] = \
                rng.choice([0, 255, rng.integers(0, 256)])
        out[:, rng.integers(0, w), c] = 255
        out[rng.integers(0, h), :, c] = 0
    out += rng.normal(0, 2, out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def make_images(d):
    """name -> PIL image as saved on disk (reopened, so the processor sees decoded pixels)."""
    specs = []
    rgb = pattern(53, 37, 3, 1)
    Image.fromarray(rgb, "RGB").save(os.path.join(d, "rgb_37x53.png"))
    specs.append("rgb_37x53.png")
    Image.fromarray(pattern(207, 301, 3, 2), "RGB").save(os.path.join(d, "rgb_301x207.jpg"),
                                                         quality=90)
    specs.append("rgb_301x207.jpg")
    Image.fromarray(pattern(97, 640, 1, 3)[..., 0], "L").save(os.path.join(d, "grey_640x97.png"))
    specs.append("grey_640x97.png")
    rgba = pattern(640, 97, 4, 4)
    rgba[:40, :, 3] = 0          # fully transparent band (colours still stored)
    rgba[40:80, :, 3] = 255      # opaque band
    Image.fromarray(rgba, "RGBA").save(os.path.join(d, "rgba_97x640.png"))
    specs.append("rgba_97x640.png")
    Image.fromarray(pattern(225, 225, 3, 5), "RGB").save(os.path.join(d, "rgb_225x225.png"))
    specs.append("rgb_225x225.png")
    Image.fromarray(pattern(31, 50, 3, 6), "RGB").save(os.path.join(d, "rgb_50x31.png"))
    specs.append("rgb_50x31.png")
    Image.fromarray(pattern(60, 80, 2, 7), "LA").save(os.path.join(d, "greyalpha_80x60.png"))
    specs.append("greyalpha_80x60.png")
    Image.fromarray(pattern(48, 70, 3, 8), "RGB").save(os.path.join(d, "rgb_70x48.bmp"))
    specs.append("rgb_70x48.bmp")
    Image.fromarray(pattern(90, 120, 1, 9)[..., 0], "L").save(os.path.join(d, "grey_120x90.jpg"),
                                                              quality=85)
    specs.append("grey_120x90.jpg")
    # chroma layouts and coding modes of the JPEG path: 4:2:2, 4:4:4, progressive 4:2:0
    Image.fromarray(pattern(77, 133, 3, 10), "RGB").save(os.path.join(d, "rgb_133x77_422.jpg"),
                                                         quality=80, subsampling=1)
    specs.append("rgb_133x77_422.jpg")
    Image.fromarray(pattern(120, 91, 3, 11), "RGB").save(os.path.join(d, "rgb_91x120_444.jpg"),
                                                         quality=95, subsampling=0)
    specs.append("rgb_91x120_444.jpg")
    Image.fromarray(pattern(101, 157, 3, 12), "RGB").save(os.path.join(d, "rgb_157x101_prog.jpg"),
                                                          quality=75, progressive=True)
    specs.append("rgb_157x101_prog.jpg")
    return specs


def process(img, size, crop_h, crop_w, mean, std, alpha):
    from transformers import CLIPImageProcessorPil

    proc = CLIPImageProcessorPil(size={"shortest_edge": size},
                                 crop_size={"height": crop_h, "width": crop_w},
                                 image_mean=mean, image_std=std)
    if alpha == "drop":
        img = img.convert("RGB")
    out = proc(images=img, return_tensors="np")["pixel_values"][0]
    assert out.shape == (3, crop_h, crop_w) and out.dtype == np.float32
    return out


def to_levels(out, mean, std):
    """The uint8 levels behind a processor output, checked to reproduce it exactly."""
    m = np.array(mean, np.float32)[:, None, None]
    s = np.array(std, np.float32)[:, None, None]
    levels = np.clip(np.rint((out * s + m) * 255.0), 0, 255).astype(np.uint8)
    x = (levels.astype(np.float64) * (1 / 255)).astype(np.float32)
    back = ((x.T - m[:, 0, 0]) / s[:, 0, 0]).T
    assert np.array_equal(back, out), "u8 encoding is not lossless"
    return levels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/image")
    args = ap.parse_args()
    d = args.out
    os.makedirs(d, exist_ok=True)
    names = make_images(d)
    cases = []
    half = [0.5, 0.5, 0.5]
    for name in names[-3:]:
        cases.append((name, 40, 40, 40, "drop", CLIP_MEAN, CLIP_STD, "f32"))
    cases.append(("rgb_133x77_422.jpg", 224, 224, 224, "drop", CLIP_MEAN, CLIP_STD, "u8"))
    for name in names[:-3]:
        has_alpha = name.startswith(("rgba", "greyalpha"))
        for alpha in (["drop", "white"] if has_alpha else ["drop"]):
            cases.append((name, 64, 64, 64, alpha, CLIP_MEAN, CLIP_STD, "f32"))
            cases.append((name, 224, 224, 224, alpha, CLIP_MEAN, CLIP_STD, "u8"))
    cases.append(("rgb_301x207.jpg", 48, 64, 56, "drop", CLIP_MEAN, CLIP_STD, "f32"))   # pad rows
    cases.append(("rgb_37x53.png", 40, 30, 72, "drop", half, half, "f32"))              # pad cols
    cases.append(("grey_640x97.png", 33, 33, 47, "drop", half, CLIP_STD, "f32"))
    cases.append(("rgb_50x31.png", 31, 31, 50, "drop", CLIP_MEAN, CLIP_STD, "f32"))  # no resize
    lines = ["# IMAGE SIZE CROP_H CROP_W ALPHA MEAN0 MEAN1 MEAN2 STD0 STD1 STD2 OUTPUT KIND"]
    for k, (name, size, ch, cw, alpha, mean, std, kind) in enumerate(cases):
        with Image.open(os.path.join(d, name)) as im:
            im.load()
            out = process(im, size, ch, cw, mean, std, alpha)
        base = os.path.splitext(name)[0]
        if kind == "u8":
            fname = f"{base}_s{size}_{ch}x{cw}_{alpha}.out.png"
            levels = to_levels(out, mean, std)
            Image.fromarray(np.ascontiguousarray(levels.transpose(1, 2, 0)), "RGB").save(
                os.path.join(d, fname), optimize=True)
        else:
            fname = f"{base}_s{size}_{ch}x{cw}_{alpha}.f32"
            out.astype("<f4").tofile(os.path.join(d, fname))
        lines.append(" ".join([name, str(size), str(ch), str(cw), alpha] +
                              [repr(float(v)) for v in mean + std] + [fname, kind]))
    with open(os.path.join(d, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"{d}: {len(names)} images, {len(cases)} cases, {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
