#!/usr/bin/env python3
"""Smaller weights, measured: a ViT-B/32-size random CLIP as fp32, converted to f16 and q8 by
`safer-clip convert`, each with its file size, load time and encode throughput (benches/encode.rs
on flex) and the drift of its text and image embeddings from fp32's (max abs difference and
least cosine) on 32 Flickr8k captions and 32 CIFAR-10 test images from ../shared. With
--backend wgpu the same on the GPU, with one more row: the fp32 file computed in f16 (where the
adapter offers shader-f16), drift measured from fp32 computed on the same GPU.

    python3 benches/dtypes.py [--model DIR] [--threads N] [--backend flex|wgpu]

Without --model, makes the random model (needs torch and transformers, as encode_vs_pytorch.py).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import ROOT, make_model, run_lines

SHARED = ROOT.parent / "shared" / "data"


def cli(*args):
    # The build a user runs (`cargo run --release`); `cargo bench` shares it.
    binary = ROOT / "target" / "release" / "safer-clip"
    out = subprocess.run([str(binary), *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(out.stderr)
    return out.stdout


def inputs():
    captions = []
    for line in (SHARED / "flickr8k" / "Flickr8k.token.txt").read_text().splitlines()[:32 * 5:5]:
        captions.append(line.split("\t", 1)[1])
    classes = sorted(p for p in (SHARED / "cifar10-test").iterdir() if p.is_dir())
    images = [sorted(c.iterdir())[i] for i in range(4) for c in classes][:32]
    return captions, images


def embeddings(model, captions, images, backend, precision):
    args = ["encode", "--model", str(model), "--json", "--backend", backend, "--precision", precision]
    for c in captions:
        args += ["--text", c]
    for i in images:
        args += ["--image", str(i)]
    out = json.loads(cli(*args))
    return out["text_embeds"], out["image_embeds"]


def drift(ours, reference):
    max_abs = max(abs(a - b) for x, y in zip(ours, reference) for a, b in zip(x, y))
    min_cos = min(sum(a * b for a, b in zip(x, y)) for x, y in zip(ours, reference))
    return max_abs, min_cos


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--backend", choices=["flex", "wgpu"], default="flex")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--bins", "--quiet"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = Path(args.model) if args.model else tmp / "fp32"
        if not args.model:
            make_model(model)
        # (weights, folder, what the model computes in)
        runs = [("fp32", model, "f32")]
        for dtype in ("f16", "q8"):
            folder = tmp / dtype
            cli("convert", "--model", str(model), "--dtype", dtype, "--out", str(folder))
            runs.append((dtype, folder, "f32"))
        if args.backend == "wgpu":
            runs.append(("fp32 in f16", model, "f16"))
        captions, images = inputs()
        reference = embeddings(model, captions, images, args.backend, "f32")
        env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
        rows = []
        for name, folder, precision in runs:
            size = (folder / "model.safetensors").stat().st_size
            texts, imgs = embeddings(folder, captions, images, args.backend, precision)
            (t_abs, t_cos), (i_abs, i_cos) = drift(texts, reference[0]), drift(imgs, reference[1])
            run = args.backend if precision == "f32" else f"{args.backend}:{precision}"
            rates = run_lines(["cargo", "bench", "--bench", "encode", "--", str(folder), run],
                              ("impl",), env=env)
            rate = {r["batch"]: r for r in rates}
            row = {"dtype": name, "megabytes": round(size / 1e6, 1), "load_s": rate[1]["load_s"],
                   "texts_per_s_b32": rate[32]["texts_per_s"], "images_per_s_b32": rate[32]["images_per_s"],
                   "text_max_abs": t_abs, "text_min_cos": t_cos, "image_max_abs": i_abs, "image_min_cos": i_cos}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(f"\nViT-B/32-size random weights, {args.backend}, {args.threads} threads; drift from fp32 on 32 Flickr8k"
          " captions and 32 CIFAR-10 images")
    print(f"{'dtype':<12}{'MB':>8}{'load s':>8}{'texts/s':>9}{'images/s':>10}"
          f"{'text max abs':>14}{'text min cos':>14}{'image max abs':>15}{'image min cos':>15}")
    for r in rows:
        print(f"{r['dtype']:<12}{r['megabytes']:>8.1f}{r['load_s']:>8.2f}{r['texts_per_s_b32']:>9.1f}"
              f"{r['images_per_s_b32']:>10.2f}{r['text_max_abs']:>14.2e}{r['text_min_cos']:>14.6f}"
              f"{r['image_max_abs']:>15.2e}{r['image_min_cos']:>15.6f}")
    assert all(math.isfinite(r["text_min_cos"]) for r in rows)


if __name__ == "__main__":
    main()
