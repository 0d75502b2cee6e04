#!/usr/bin/env python3
"""Generates the parity fixtures under tests/fixtures/ with the reference implementation.

Each model fixture is a folder as the Hugging Face hub lays it out (`config.json`,
`model.safetensors`, written by `CLIPModel.save_pretrained`) holding small CLIP models with
random weights, plus `reference.json`: fixed inputs (token ids, pixel values) and what
`transformers`' `CLIPModel` returns for them. The tokenizer fixture records the ids that
`CLIPTokenizerFast` gives for varied strings, with the real `openai/clip-vit-base-patch32`
tokenizer from ../shared.

Needs `torch` and `transformers` (PyPI). CI does not run this: the outputs are committed.
Run from the repository root:  python3 scripts/make_fixtures.py
"""

import json
import random
import zlib
import sys
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SHARED_TOKENIZER = ROOT.parent / "shared" / "assets" / "clip-vit-base-patch32"

VOCAB = 512


def tiny_config(**overrides):
    text = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=16,
        hidden_act="quick_gelu",
        bos_token_id=VOCAB - 2,
        pad_token_id=VOCAB - 1,
        eos_token_id=2,
    )
    vision = dict(
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        hidden_act="quick_gelu",
    )
    text.update(overrides.pop("text", {}))
    vision.update(overrides.pop("vision", {}))
    overrides.setdefault("projection_dim", 24)
    return CLIPConfig(text_config=text, vision_config=vision, **overrides)


MODELS = {
    # OpenAI's layout: quick_gelu, the legacy eos_token_id=2 (pool at the highest id).
    "tiny-quickgelu": dict(config=tiny_config(logit_scale_init_value=2.6592), dtype=torch.float32),
    # A newer layout: exact gelu, pooling at the first eos id, other eps, stored in fp16.
    "tiny-gelu-fp16": dict(
        config=tiny_config(
            text=dict(hidden_act="gelu", eos_token_id=VOCAB - 1, layer_norm_eps=1e-6,
                      num_attention_heads=2),
            vision=dict(hidden_act="gelu", layer_norm_eps=1e-6, patch_size=16),
            logit_scale_init_value=3.0,
        ),
        dtype=torch.float16,
    ),
}


def randomize(model, generator):
    """Replaces the tiny init of transformers with weights of larger spread, so that every
    layer matters and errors are not hidden by near-zero activations."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("logit_scale"):
                continue
            if "norm" in name and name.endswith("weight"):
                param.copy_(1.0 + 0.2 * torch.randn(param.shape, generator=generator))
            else:
                param.copy_(0.2 * torch.randn(param.shape, generator=generator))


def token_batch(eos_id, generator):
    """Three sequences of different lengths, padded with the end token as CLIP does."""
    lengths = [5, 12, 16]
    rows = []
    for length in lengths:
        body = torch.randint(1, VOCAB - 2, (length - 2,), generator=generator).tolist()
        rows.append([VOCAB - 2] + body + [eos_id])
    width = max(lengths)
    return [row + [eos_id] * (width - len(row)) for row in rows]


def make_model_fixture(name, spec):
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    torch.manual_seed(0)
    model = CLIPModel(spec["config"]).eval()
    randomize(model, generator)
    out_dir = FIXTURES / name
    out_dir.mkdir(parents=True, exist_ok=True)
    model.to(spec["dtype"]).save_pretrained(out_dir, safe_serialization=True)
    # The reference runs in fp32 on the weights exactly as stored.
    model = CLIPModel.from_pretrained(out_dir, torch_dtype=torch.float32).eval()

    text_cfg = spec["config"].text_config
    eos = VOCAB - 1 if text_cfg.eos_token_id == 2 else text_cfg.eos_token_id
    ids = token_batch(eos, generator)
    size = spec["config"].vision_config.image_size
    # Rounded so that the JSON holds the exact input.
    pixels = torch.round(torch.randn((2, 3, size, size), generator=generator) * 1e4) / 1e4
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), pixel_values=pixels)
    reference = {
        "input_ids": ids,
        "pixel_values": pixels.flatten().tolist(),
        "pixel_shape": list(pixels.shape),
        "text_embeds": out.text_embeds.tolist(),
        "image_embeds": out.image_embeds.tolist(),
        "logits_per_text": out.logits_per_text.tolist(),
    }
    (out_dir / "reference.json").write_text(json.dumps(reference))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters")


def make_full_vocab_fixture():
    """A tiny model with CLIP's real 49,408-token vocabulary, for end-to-end tests that go
    through the real tokenizer and image files (the CLI, the browser). Its reference holds
    embeddings of real texts and of the PNG fixtures, preprocessed the way OpenAI's CLIP does."""
    if not SHARED_TOKENIZER.exists():
        print(f"skipping the full-vocabulary fixture: {SHARED_TOKENIZER} is absent", file=sys.stderr)
        return
    import numpy as np
    from PIL import Image
    from transformers import CLIPTokenizerFast

    name = "tiny-fullvocab"
    config = tiny_config(
        text=dict(vocab_size=49408, hidden_size=4, intermediate_size=8, num_attention_heads=2,
                  max_position_embeddings=77, bos_token_id=49406, pad_token_id=49407),
        vision=dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, patch_size=16),
        projection_dim=8,
    )
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    torch.manual_seed(0)
    model = CLIPModel(config).eval()
    randomize(model, generator)
    out_dir = FIXTURES / name
    out_dir.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out_dir, safe_serialization=True)
    model = CLIPModel.from_pretrained(out_dir, torch_dtype=torch.float32).eval()

    texts = ["a photo of a cat", "a man holding a knife in a kitchen", "Hello World!", "",
             "a very long caption " * 30]
    tokenizer = CLIPTokenizerFast.from_pretrained(SHARED_TOKENIZER)
    ids = tokenizer(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
    images = ["down-57x83.png", "alpha-30x50.png", "gray-40x40.png"]
    mean = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
    std = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
    pixels = []
    for image in images:
        cropped = clip_resize_crop(Image.open(FIXTURES / "images" / image).convert("RGB"), 32)
        array = (np.asarray(cropped, dtype=np.float32) / 255.0 - mean) / std
        pixels.append(torch.from_numpy(array.transpose(2, 0, 1).copy()))
    with torch.no_grad():
        out = model(input_ids=ids["input_ids"], pixel_values=torch.stack(pixels))
    reference = {
        "texts": texts,
        "images": images,
        "text_embeds": out.text_embeds.tolist(),
        "image_embeds": out.image_embeds.tolist(),
        "logits_per_text": out.logits_per_text.tolist(),
    }
    (out_dir / "reference.json").write_text(json.dumps(reference))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters")


def tokenizer_cases():
    rng = random.Random(7)
    words = ("a photo of the cat dog man woman holding knife flowers street beach red blue "
             "running sitting under over two three big small old new café naïve résumé "
             "日本 東京 猫 сегодня привет مرحبا שלום 🙂 🐱 👍🏽 ").split()
    cases = [
        "Hello World!", "", " ", "a photo of a cat", "A PHOTO OF A CAT",
        "  leading and trailing   spaces  ", "tabs\tand\nnewlines\r\nmixed",
        "don't won't it's we're they've I'm you'll he'd", "'s 't 're", "1234567890",
        "3.14159 is pi, 2+2=4; 100% sure?", "e-mail: someone@example.com, url: https://x.org/a?b=c",
        "!!!???...,,,;;;::", "(parentheses) [brackets] {braces} <angles>", "\"quoted\" 'single'",
        "<|startoftext|>", "<|endoftext|>", "a <|endoftext|> inside", "ÀÉÎÕÜ àéîõü ß ø å æ œ",
        "e\u0301 composed vs é", "ﬁ ligature and ½ fraction", "emoji 👩‍👩‍👧 family 🏳️‍🌈 flag",
        "日本語のテキスト", "中文文本测试", "한국어 텍스트", "Ελληνικά κείμενα", "עברית", "العربية",
        "\u200b zero width \u200d joiner", "a" * 300, "word " * 200, "supercalifragilistic" * 20,
        "x" * 2000, "#hashtag @mention $dollar ^caret &amp; *star* _under_ ~tilde~ `tick`",
    ]
    for _ in range(270):
        n = rng.randint(1, 40)
        text = " ".join(rng.choice(words) for _ in range(n))
        if rng.random() < 0.3:
            text = text.upper()
        if rng.random() < 0.3:
            text += rng.choice([".", "!", "?", " :)", "...", ","])
        cases.append(text)
    return cases


def make_tokenizer_fixture():
    if not SHARED_TOKENIZER.exists():
        print(f"skipping the tokenizer fixture: {SHARED_TOKENIZER} is absent", file=sys.stderr)
        return
    from transformers import CLIPTokenizerFast

    tokenizer = CLIPTokenizerFast.from_pretrained(SHARED_TOKENIZER)
    cases = tokenizer_cases()
    ids = tokenizer(cases, truncation=True, max_length=77)["input_ids"]
    assert tokenizer("Hello World!")["input_ids"] == [49406, 3306, 1002, 256, 49407]
    out = [{"text": text, "ids": row} for text, row in zip(cases, ids)]
    (FIXTURES / "tokenizer_cases.json").write_text(json.dumps(out, ensure_ascii=False))
    print(f"tokenizer: {len(out)} cases")


def clip_resize_crop(image, size):
    """torchvision's Resize(size, BICUBIC) + CenterCrop(size) on a PIL image, as in `clip.load`."""
    from PIL import Image

    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    resized = image.resize((new_w, new_h), Image.BICUBIC)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    return resized.crop((left, top, left + size, top + size))


def make_resample_fixture():
    """Losslessly stored images and Pillow's resize + centre crop of each, as uint8 RGB."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(3)
    out_dir = FIXTURES / "images"
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = []
    specs = [
        ("down-57x83.png", "RGB", (57, 83), 24),
        ("up-13x9.png", "RGB", (13, 9), 24),
        ("wide-200x31.png", "RGB", (200, 31), 24),
        ("odd-crop-46x40.png", "RGB", (46, 40), 24),
        ("gray-40x40.png", "L", (40, 40), 24),
        ("alpha-30x50.png", "RGBA", (30, 50), 24),
        ("same-24x60.png", "RGB", (24, 60), 24),
    ]
    for name, mode, (w, h), size in specs:
        channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
        # Smooth gradients plus noise: both regimes of the bicubic kernel matter.
        y, x = np.mgrid[0:h, 0:w]
        base = (127 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0))[..., None]
        noise = rng.integers(-60, 60, size=(h, w, channels))
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
        image.save(out_dir / name)
        expected = clip_resize_crop(Image.open(out_dir / name).convert("RGB"), size)
        cases.append({"file": name, "size": size, "rgb": np.asarray(expected).flatten().tolist()})
    (out_dir / "resample.json").write_text(json.dumps(cases))
    print(f"resample: {len(cases)} images")


if __name__ == "__main__":
    for name, spec in MODELS.items():
        make_model_fixture(name, spec)
    make_tokenizer_fixture()
    make_resample_fixture()
    make_full_vocab_fixture()
