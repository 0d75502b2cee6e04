#!/usr/bin/env python3
"""Our LoRA files in the Python ecosystem: a model merged by `safer-clip merge` loads in
`transformers`' CLIPModel, and the adapter file itself loads in PEFT onto the original model;
both give the embeddings that safer-clip computes for the merged model.

Steps: a small random CLIP with the real tokenizer (../shared), a few `safer-clip train` steps
(so the adapters are non-zero), `safer-clip merge`, `safer-clip encode --json` of the merged
folder; then in PyTorch: CLIPModel.from_pretrained(merged) and PeftModel.from_pretrained(base,
adapter) (with an adapter_config.json written from the file's own `lora_config`).
`--method hysac` trains on pairs with (random) images, so that the vision tower's adapters,
the patch embedding's among them (stored as PEFT's Conv2d LoRA), are checked through image
embeddings too.

    pip install torch transformers peft
    python3 scripts/check_adapter_export.py [--size small|b32] [--method safer|hysac] [--profile dev]
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
from safetensors import safe_open
from transformers import CLIPConfig, CLIPModel, CLIPTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT.parent / "shared" / "assets" / "clip-vit-base-patch32"
TEXTS = ["a man punching another man outside a bar", "a photo of a dog", "a quiet street at night"]
SMALL = dict(
    projection_dim=32,
    text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
    vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       image_size=32, patch_size=16),
)


PROFILE = "dev"


def safer_clip(*args):
    cmd = ["cargo", "run", "--quiet", "--profile", PROFILE, "--bin", "safer-clip", "--", *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout


def random_image(path, size, rng):
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def pairs_with_images(folder, size, count=16):
    """The first `count` shipped pairs, each with a random safe and unsafe image of the model's
    input size (so that preprocessing is the identity resize on both sides)."""
    rng = np.random.default_rng(0)
    lines = (ROOT / "data/pairs.jsonl").read_text().splitlines()[:count]
    out = []
    for i, line in enumerate(lines):
        pair = json.loads(line)
        for kind in ("safe", "unsafe"):
            random_image(folder / f"{i}-{kind}.png", size, rng)
            pair[f"{kind}_image"] = f"{i}-{kind}.png"
        out.append(json.dumps(pair))
    path = folder / "pairs.jsonl"
    path.write_text("\n".join(out) + "\n")
    return path


def image_embeds(model, image):
    pixels = np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255.0
    mean = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
    std = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
    pixels = torch.from_numpy(((pixels - mean) / std).transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        features = model.get_image_features(pixel_values=pixels)
    features = getattr(features, "pooler_output", features)
    return torch.nn.functional.normalize(features, dim=-1).numpy()


def text_embeds(model, tokenizer):
    ids = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        features = model.get_text_features(**ids)
    features = getattr(features, "pooler_output", features)
    return torch.nn.functional.normalize(features, dim=-1).numpy()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=["small", "b32"], default="small")
    parser.add_argument("--method", choices=["safer", "hysac"], default="safer")
    parser.add_argument("--profile", default="dev", help="the cargo profile safer-clip runs in")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    if not ASSETS.exists():
        sys.exit(f"needs {ASSETS} (the CLIP tokenizer)")
    from peft import PeftModel

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base, out, merged = tmp / "base", tmp / "train", tmp / "merged"
        config = CLIPConfig.from_pretrained(ASSETS) if args.size == "b32" else CLIPConfig(**SMALL)
        torch.manual_seed(0)
        CLIPModel(config).eval().save_pretrained(base, safe_serialization=True)
        shutil.copy(ASSETS / "tokenizer.json", base / "tokenizer.json")

        pairs = ROOT / "data/pairs.jsonl"
        image = tmp / "query.png"
        random_image(image, config.vision_config.image_size, np.random.default_rng(1))
        if args.method == "hysac":
            (tmp / "pairs").mkdir()
            pairs = pairs_with_images(tmp / "pairs", config.vision_config.image_size)
        safer_clip("train", "--model", base, "--pairs", pairs, "--out", out, "--method", args.method,
                   "--max-steps", 3, "--batch-size", 8, "--lr", 1e-2, "--dropout", 0, "--json")
        safer_clip("merge", "--model", base, "--adapter", out / "adapter.safetensors", "--out", merged)
        encode = ["encode", "--model", merged, "--json", "--image", image]
        for text in TEXTS:
            encode += ["--text", text]
        encoded = json.loads(safer_clip(*encode))
        ours = np.array(encoded["text_embeds"], dtype=np.float32)
        ours_image = np.array(encoded["image_embeds"], dtype=np.float32)

        tokenizer = CLIPTokenizerFast.from_pretrained(ASSETS)
        merged_model = CLIPModel.from_pretrained(merged).eval()
        hf_merged = text_embeds(merged_model, tokenizer)
        hf_merged_image = image_embeds(merged_model, image)
        print(f"transformers on the merged folder vs safer-clip: max abs error {np.abs(hf_merged - ours).max():.2e} (texts), "
              f"{np.abs(hf_merged_image - ours_image).max():.2e} (image)")

        adapter_dir = tmp / "peft"
        adapter_dir.mkdir()
        shutil.copy(out / "adapter.safetensors", adapter_dir / "adapter_model.safetensors")
        with safe_open(out / "adapter.safetensors", "pt") as f:
            lora = json.loads(f.metadata()["lora_config"])
        (adapter_dir / "adapter_config.json").write_text(json.dumps({
            "peft_type": "LORA", "r": lora["rank"], "lora_alpha": lora["alpha"],
            "lora_dropout": lora["dropout"], "target_modules": lora["targets"], "bias": "none",
        }))
        base_model = CLIPModel.from_pretrained(base).eval()
        unmodified, unmodified_image = text_embeds(base_model, tokenizer), image_embeds(base_model, image)
        peft = PeftModel.from_pretrained(base_model, adapter_dir).eval()
        hf_peft, hf_peft_image = text_embeds(peft, tokenizer), image_embeds(peft, image)
        print(f"PEFT ({', '.join(lora['targets'])}) with our adapter file vs safer-clip merged: max abs error "
              f"{np.abs(hf_peft - ours).max():.2e} (texts), {np.abs(hf_peft_image - ours_image).max():.2e} (image)")
        print(f"(the adapter moved the embeddings by up to {np.abs(unmodified - ours).max():.2e} (texts), "
              f"{np.abs(unmodified_image - ours_image).max():.2e} (image))")


if __name__ == "__main__":
    main()
