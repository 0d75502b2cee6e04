#!/usr/bin/env python3
"""Our LoRA files in the Python ecosystem: a model merged by `safer-clip merge` loads in
`transformers`' CLIPModel, and the adapter file itself loads in PEFT onto the original model;
both give the embeddings that safer-clip computes for the merged model.

Steps: a small random CLIP with the real tokenizer (../shared), a few `safer-clip train` steps
(so the adapters are non-zero), `safer-clip merge`, `safer-clip encode --json` of the merged
folder; then in PyTorch: CLIPModel.from_pretrained(merged) and PeftModel.from_pretrained(base,
adapter) (with an adapter_config.json written from the file's own `lora_config`).

    pip install torch transformers peft
    python3 scripts/check_adapter_export.py [--size small|b32]
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


def safer_clip(*args):
    cmd = ["cargo", "run", "--quiet", "--bin", "safer-clip", "--", *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout


def text_embeds(model, tokenizer):
    ids = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        features = model.get_text_features(**ids)
    features = getattr(features, "pooler_output", features)
    return torch.nn.functional.normalize(features, dim=-1).numpy()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=["small", "b32"], default="small")
    args = parser.parse_args()
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

        safer_clip("train", "--model", base, "--pairs", ROOT / "data/pairs.jsonl", "--out", out,
                   "--max-steps", 3, "--batch-size", 8, "--lr", 1e-2, "--dropout", 0, "--json")
        safer_clip("merge", "--model", base, "--adapter", out / "adapter.safetensors", "--out", merged)
        encode = ["encode", "--model", merged, "--json"]
        for text in TEXTS:
            encode += ["--text", text]
        ours = np.array(json.loads(safer_clip(*encode))["text_embeds"], dtype=np.float32)

        tokenizer = CLIPTokenizerFast.from_pretrained(ASSETS)
        hf_merged = text_embeds(CLIPModel.from_pretrained(merged).eval(), tokenizer)
        print(f"transformers on the merged folder vs safer-clip: max abs error {np.abs(hf_merged - ours).max():.2e}")

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
        unmodified = text_embeds(base_model, tokenizer)
        peft = PeftModel.from_pretrained(base_model, adapter_dir).eval()
        hf_peft = text_embeds(peft, tokenizer)
        print(f"PEFT with our adapter file vs safer-clip merged: max abs error {np.abs(hf_peft - ours).max():.2e}")
        print(f"(the adapter moved the embeddings by up to {np.abs(unmodified - ours).max():.2e})")


if __name__ == "__main__":
    main()
