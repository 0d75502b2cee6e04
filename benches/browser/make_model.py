#!/usr/bin/env python3
"""Random-weight CLIP ViT-B/32 for the browser benchmark (bench.mjs), in two layouts:

- ours: `config.json` + `model.safetensors` (CLIPModel.save_pretrained) + `tokenizer.json`;
- transformers.js: `onnx/text_model.onnx` (CLIPTextModelWithProjection) and
  `onnx/vision_model.onnx` (CLIPVisionModelWithProjection) exported from the same weights, with
  the config, tokenizer and preprocessor files it reads.

The architecture, tokenizer and preprocessing are `openai/clip-vit-base-patch32`'s, read at run
time from the shared assets folder (never copied into the repo). The ONNX files are checked
against PyTorch with onnxruntime when it is installed.

    python3 benches/browser/make_model.py [--out /tmp/safer-clip-bench-model] [--assets DIR]
"""

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPTextModelWithProjection,
    CLIPVisionModelWithProjection,
)

ASSETS = Path("/work/shared/assets/clip-vit-base-patch32")
TOKENIZER_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "preprocessor_config.json",
]


def export(model, args, names, dynamic, path):
    torch.onnx.export(
        model,
        args,
        str(path),
        input_names=names["inputs"],
        output_names=names["outputs"],
        dynamic_axes=dynamic,
        opset_version=17,
        do_constant_folding=True,
        dynamo=False,
    )


class TextWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return out.text_embeds, out.last_hidden_state


class VisionWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        out = self.model(pixel_values=pixel_values)
        return out.image_embeds, out.last_hidden_state


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/safer-clip-bench-model"))
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    missing = [f for f in ["config.json", *TOKENIZER_FILES] if not (args.assets / f).is_file()]
    if missing:
        sys.exit(f"{args.assets} lacks {', '.join(missing)} (openai/clip-vit-base-patch32's config and tokenizer)")

    out = args.out
    (out / "onnx").mkdir(parents=True, exist_ok=True)

    torch.manual_seed(args.seed)
    config = CLIPConfig.from_pretrained(args.assets)
    config._attn_implementation = "eager"
    model = CLIPModel(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copyfile(args.assets / name, out / name)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"random CLIP ({n_params / 1e6:.1f} M parameters) → {out}/model.safetensors")

    text = CLIPTextModelWithProjection.from_pretrained(out, attn_implementation="eager").eval()
    vision = CLIPVisionModelWithProjection.from_pretrained(out, attn_implementation="eager").eval()

    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 49405, (3, 9), generator=gen)
    ids[:, 0] = 49406
    ids[:, -1] = 49407
    ids[1, 5:] = 49407  # a padded row, as CLIP pads with its end token
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    pixels = torch.randn(2, 3, 224, 224, generator=gen)

    with torch.no_grad():
        ref_text = model.get_text_features(input_ids=ids, attention_mask=mask)
        ref_image = model.get_image_features(pixel_values=pixels)
        ref_text = getattr(ref_text, "pooler_output", ref_text)
        ref_image = getattr(ref_image, "pooler_output", ref_image)
        text_wrapped, vision_wrapped = TextWrapper(text), VisionWrapper(vision)
        t_out = text_wrapped(ids, mask)[0]
        v_out = vision_wrapped(pixels)[0]
    # The split models hold the same weights as the CLIPModel ours loads.
    assert torch.allclose(t_out, ref_text, atol=1e-5), (t_out - ref_text).abs().max()
    assert torch.allclose(v_out, ref_image, atol=1e-5), (v_out - ref_image).abs().max()

    export(
        text_wrapped,
        (ids, mask),
        {"inputs": ["input_ids", "attention_mask"], "outputs": ["text_embeds", "last_hidden_state"]},
        {
            "input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "sequence_length"},
            "text_embeds": {0: "batch_size"},
            "last_hidden_state": {0: "batch_size", 1: "sequence_length"},
        },
        out / "onnx/text_model.onnx",
    )
    export(
        vision_wrapped,
        (pixels,),
        {"inputs": ["pixel_values"], "outputs": ["image_embeds", "last_hidden_state"]},
        {
            "pixel_values": {0: "batch_size"},
            "image_embeds": {0: "batch_size"},
            "last_hidden_state": {0: "batch_size"},
        },
        out / "onnx/vision_model.onnx",
    )
    for name in ["text_model.onnx", "vision_model.onnx"]:
        path = out / "onnx" / name
        print(f"{path}: {path.stat().st_size / 1e6:.1f} MB")

    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is not installed: ONNX outputs not checked (pip install onnxruntime)")
        return
    # Other shapes than the export's, to exercise the dynamic axes.
    ids2 = torch.randint(1, 49405, (5, 14), generator=gen)
    ids2[:, 0], ids2[:, -1] = 49406, 49407
    mask2 = torch.ones_like(ids2)
    pixels2 = torch.randn(4, 3, 224, 224, generator=gen)
    with torch.no_grad():
        ref_t = text_wrapped(ids2, mask2)[0].numpy()
        ref_v = vision_wrapped(pixels2)[0].numpy()
    sess_t = ort.InferenceSession(str(out / "onnx/text_model.onnx"), providers=["CPUExecutionProvider"])
    sess_v = ort.InferenceSession(str(out / "onnx/vision_model.onnx"), providers=["CPUExecutionProvider"])
    got_t = sess_t.run(["text_embeds"], {"input_ids": ids2.numpy(), "attention_mask": mask2.numpy()})[0]
    got_v = sess_v.run(["image_embeds"], {"pixel_values": pixels2.numpy()})[0]
    err_t = float(np.abs(got_t - ref_t).max())
    err_v = float(np.abs(got_v - ref_v).max())
    print(f"ONNX vs PyTorch, max abs difference: text {err_t:.2e} (scale {np.abs(ref_t).max():.2f}), "
          f"image {err_v:.2e} (scale {np.abs(ref_v).max():.2f})")
    if err_t > 1e-3 or err_v > 1e-3:
        sys.exit("ONNX and PyTorch disagree")


if __name__ == "__main__":
    main()
