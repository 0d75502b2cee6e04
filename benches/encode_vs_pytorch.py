#!/usr/bin/env python3
"""Encoding throughput of safer-clip (Burn) beside PyTorch `transformers` CLIPModel on CPU.

Builds a ViT-B/32-size CLIP with random weights (the real `openai/clip-vit-base-patch32`
config from ../shared, or the same sizes from transformers' defaults), times PyTorch at batch
1, 8 and 32 with the same thread count, runs `benches/encode.rs` on the same weights, and prints
the ratio table. Each side runs in its own process so that peak memory is its own.

    python3 benches/encode_vs_pytorch.py [--backends flex wgpu] [--threads N]
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench_common import make_model, rate, run_lines  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BATCHES = (1, 8, 32)


def pytorch_worker(model_dir, threads):
    import torch
    from transformers import CLIPModel, CLIPTokenizerFast

    torch.set_num_threads(threads)
    start = time.perf_counter()
    model = CLIPModel.from_pretrained(model_dir).eval()
    tokenizer = CLIPTokenizerFast.from_pretrained(model_dir)
    load_s = time.perf_counter() - start
    size = model.config.vision_config.image_size
    for batch in BATCHES:
        texts = [f"a photo of a {['small', 'large', 'brown'][i % 3]} dog playing with a ball in the park number {i}"
                 for i in range(batch)]
        pixels = torch.randn(batch, 3, size, size)
        with torch.inference_mode():
            text_rate = rate(lambda: model.get_text_features(
                **tokenizer(texts, padding=True, truncation=True, return_tensors="pt"))) * batch
            image_rate = rate(lambda: model.get_image_features(pixel_values=pixels)) * batch
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"impl": "pytorch-cpu", "batch": batch, "texts_per_s": round(text_rate, 2),
                          "images_per_s": round(image_rate, 2), "load_s": round(load_s, 2),
                          "peak_rss_mib": round(peak)}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", nargs="+", default=["flex"])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return pytorch_worker(args.worker, args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        make_model(model_dir)
        env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
        rows = run_lines([sys.executable, __file__, "--worker", str(model_dir), "--threads", str(args.threads)],
                         ("impl",))
        rows += run_lines(["cargo", "bench", "--bench", "encode", "--", str(model_dir),
                           *args.backends], ("impl",), env=env)

    torch_rows = {r["batch"]: r for r in rows if r["impl"] == "pytorch-cpu"}
    print(f"\nViT-B/32-size random weights, {args.threads} threads, {os.uname().machine}, {os.cpu_count()} cores")
    print(f"{'impl':<14}{'batch':>6}{'texts/s':>10}{'x torch':>9}{'images/s':>10}{'x torch':>9}{'peak MiB':>10}")
    for r in rows:
        t = torch_rows[r["batch"]]
        print(f"{r['impl']:<14}{r['batch']:>6}{r['texts_per_s']:>10.1f}{r['texts_per_s'] / t['texts_per_s']:>9.2f}"
              f"{r['images_per_s']:>10.1f}{r['images_per_s'] / t['images_per_s']:>9.2f}{r['peak_rss_mib']:>10.0f}")


if __name__ == "__main__":
    main()
