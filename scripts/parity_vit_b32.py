#!/usr/bin/env python3
"""Full-size parity: `safer-clip encode --json` against `transformers` CLIPModel on a
ViT-B/32 with random weights and the real `openai/clip-vit-base-patch32` config and
tokenizer from ../shared, end to end: the tokenizer, the image preprocessing, the model.

The reference pixels are OpenAI's preprocessing done with Pillow (as `clip.load` does); the
reference ids come from `CLIPTokenizerFast`. Prints the max abs error of each output per backend.

    python3 scripts/parity_vit_b32.py [--backends ndarray wgpu]
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import CLIPConfig, CLIPModel, CLIPTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
ASSETS = SHARED / "assets" / "clip-vit-base-patch32"
sys.path.insert(0, str(ROOT / "scripts"))
from make_fixtures import clip_resize_crop  # noqa: E402

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

TEXTS = ["a diagram", "a dog", "a cat", "a portrait of a man in a suit",
         "Ünïcödé and emoji 🙂 with punctuation!!", "word " * 100]
IMAGES = [SHARED / "assets/golden/franz-kafka.jpg", SHARED / "assets/golden/CLIP.png",
          SHARED / "data/cifar10-test/cat/0000.jpg"]


def pixels(path):
    image = clip_resize_crop(Image.open(path).convert("RGB"), 224)
    array = (np.asarray(image, dtype=np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", nargs="+", default=["ndarray", "wgpu"])
    args = parser.parse_args()
    if not ASSETS.exists():
        sys.exit(f"needs {ASSETS}")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        torch.manual_seed(0)
        model = CLIPModel(CLIPConfig.from_pretrained(ASSETS)).eval()
        model.save_pretrained(model_dir, safe_serialization=True)
        shutil.copy(ASSETS / "tokenizer.json", model_dir / "tokenizer.json")
        print(f"ViT-B/32: {sum(p.numel() for p in model.parameters()):,} parameters")

        tokenizer = CLIPTokenizerFast.from_pretrained(ASSETS)
        ids = tokenizer(TEXTS, padding=True, truncation=True, max_length=77, return_tensors="pt")
        with torch.no_grad():
            ref = model(input_ids=ids["input_ids"], pixel_values=torch.stack([pixels(p) for p in IMAGES]))
        reference = {k: getattr(ref, k).numpy() for k in ("text_embeds", "image_embeds", "logits_per_text")}

        cmd = ["cargo", "run", "--quiet", "--bin", "safer-clip", "--", "encode", "--model", str(model_dir), "--json"]
        for text in TEXTS:
            cmd += ["--text", text]
        for image in IMAGES:
            cmd += ["--image", str(image)]
        worst = 0.0
        for backend in args.backends:
            out = subprocess.run(cmd + ["--backend", backend], cwd=ROOT, check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
            ours = json.loads(out)
            for key, expected in reference.items():
                err = float(np.abs(np.array(ours[key], dtype=np.float32) - expected).max())
                worst = max(worst, err)
                print(f"{backend:<8} {key:<16} max abs error {err:.2e}")
            # JPEG decoders differ from libjpeg by a level here and there; PNG input is exact.
            for i, image in enumerate(IMAGES):
                err = float(np.abs(np.array(ours["image_embeds"][i]) - reference["image_embeds"][i]).max())
                print(f"{backend:<8}   {image.name:<16} image_embeds max abs error {err:.2e}")
        print(f"worst: {worst:.2e}")


if __name__ == "__main__":
    main()
