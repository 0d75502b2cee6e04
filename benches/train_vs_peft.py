#!/usr/bin/env python3
"""LoRA training-step throughput of safer-clip (Burn) beside PyTorch + PEFT on CPU.

Builds a ViT-B/32-size CLIP with random weights (the real `openai/clip-vit-base-patch32` config
from ../shared, or the same sizes from transformers' defaults), exactly as encode_vs_pytorch.py
does, and times one SafeR-CLIP training step with PEFT LoRA on both towers
(r=16, lora_alpha=1, lora_dropout=0.1, targets k_proj v_proj out_proj fc1 fc2; Adam lr 1e-4 over
the LoRA parameters). The frozen reference embeddings are random unit vectors of the projection
dim, made once outside the timed loop. One timed step, for a batch of B safe/unsafe pairs:

  text mode:   T = tuned text tower on the 2B captions (B safe then B unsafe) in one call;
               loss = safer_rel_text_textonly + safer_uni_text + pres_text_cos;
  images mode: the same, plus V = tuned vision tower on 2B random 224x224 images in one call;
               loss = the six SafeR-CLIP terms (safer_rel_image, safer_rel_text, safer_uni_text,
               safer_uni_image, pres_text_cos, pres_image_cos), all with weight 1;

then backward, clip_grad_norm_(1.0), optimizer.step(), zero_grad(). The loss functions are those
of scripts/reference_losses.py (docs/losses.md). Captions are short random word strings,
tokenised once with padding to 77 tokens. examples/s = B pairs / step time (1 warm-up step,
then at least --min-time seconds and 3 steps). Every (mode, batch) runs in a fresh process with
the same thread count, so its peak RSS (ru_maxrss) is its own. Then `benches/train.rs` runs on
the same weights:

    cargo bench --bench train -- MODEL_DIR --backends flex

(plus `--modes ...` / `--batches ...` when those differ from the defaults), with
RAYON_NUM_THREADS set to the thread count. It prints one JSON line per measurement on stdout,
e.g. {"side": "burn", "backend": "flex", "mode": "text", "batch": 8, "examples_per_s": 1.23,
"peak_rss_mb": 456.0}; other lines are ignored. The table at the end gives the ratio
burn / pytorch.

    python3 benches/train_vs_peft.py [--backends flex] [--threads N] [--modes text images]
                                     [--batches 8 32] [--min-time S] [--python-only | --rust-only]

Needs `pip install peft`.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
from pathlib import Path

from bench_common import make_model, rate, run_lines  # noqa: E402

KEYS = ("side", "mode", "batch", "examples_per_s")

ROOT = Path(__file__).resolve().parent.parent
MODES = ("text", "images")
BATCHES = (8, 32)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS", "RAYON_NUM_THREADS")
LORA = dict(r=16, lora_alpha=1, lora_dropout=0.1, bias="none",
            target_modules=["k_proj", "v_proj", "out_proj", "fc1", "fc2"])
LR = 1e-4
MAX_GRAD_NORM = 1.0
MAX_LEN = 77
WORDS = ("a photo of the man woman child dog cat car street house tree red blue green small large old "
         "young running sitting standing holding near under beside with on in at park beach kitchen room "
         "city night morning two three people group playing eating looking wooden white black").split()


def captions(rng, n):
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))) for _ in range(n)]


def pytorch_worker(model_dir, mode, batch, threads, min_time):
    """Runs in a child process: one (mode, batch) measurement, one JSON line."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    import random

    import peft
    import torch
    import torch.nn.functional as F
    from transformers import CLIPModel, CLIPTokenizerFast

    sys.path.insert(0, str(ROOT / "scripts"))
    import reference_losses as ref

    torch.set_num_threads(threads)
    import_rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    model = CLIPModel.from_pretrained(model_dir)
    tokenizer = CLIPTokenizerFast.from_pretrained(model_dir)
    model = peft.get_peft_model(model, peft.LoraConfig(**LORA))
    model.train()
    clip = model.base_model.model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=LR)

    # Inputs and frozen targets, made once outside the timed loop.
    rng = random.Random(batch)
    tokens = tokenizer(captions(rng, 2 * batch), padding="max_length", max_length=MAX_LEN, truncation=True,
                       return_tensors="pt")
    size = clip.config.vision_config.image_size
    pixels = torch.randn(2 * batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(2)
    dim = clip.config.projection_dim
    frozen = {name: F.normalize(torch.randn(batch, dim, generator=gen), dim=-1) for name in ref.FROZEN}
    combine, terms = ref.TOTALS["safer" if mode == "images" else "safer_text"]

    def features(out):
        # transformers >= 5 returns a ModelOutput whose pooler_output is the projected embedding
        return out.pooler_output if hasattr(out, "pooler_output") else out

    def step():
        text = features(clip.get_text_features(input_ids=tokens["input_ids"],
                                               attention_mask=tokens["attention_mask"]))
        inputs = dict(frozen, tuned_text_safe=text[:batch], tuned_text_unsafe=text[batch:])
        if mode == "images":
            image = features(clip.get_image_features(pixel_values=pixels))
            inputs.update(tuned_image_safe=image[:batch], tuned_image_unsafe=image[batch:])
        values = [ref.LOSSES[name](**{a: inputs[a] for a in ref.loss_args(ref.LOSSES[name])}) for name, _ in terms]
        _, loss = combine([lam for _, lam in terms], values)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad()
        return loss

    examples_per_s = rate(step, min_time) * batch
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trainable = sum(p.numel() for p in params)
    print(json.dumps({"side": "pytorch", "backend": "cpu", "mode": mode, "batch": batch,
                      "examples_per_s": round(examples_per_s, 3), "peak_rss_mb": round(peak, 1),
                      "import_rss_mb": round(import_rss, 1),
                      "trainable_params": trainable, "peft": peft.__version__,
                      "torch": torch.__version__}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["flex"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    parser.add_argument("--min-time", type=float, default=3.0, help="seconds to time each measurement (PyTorch)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--python-only", action="store_true", help="skip the cargo bench")
    only.add_argument("--rust-only", action="store_true", help="skip PyTorch")
    parser.add_argument("--worker", nargs=3, metavar=("MODEL_DIR", "MODE", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        model_dir, mode, batch = args.worker
        return pytorch_worker(model_dir, mode, int(batch), args.threads, args.min_time)

    env = dict(os.environ, **{var: str(args.threads) for var in THREAD_VARS})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        make_model(model_dir)
        if not args.rust_only:
            for mode in args.modes:
                for batch in args.batches:
                    rows += run_lines([sys.executable, __file__, "--worker", str(model_dir), mode, str(batch),
                                       "--threads", str(args.threads), "--min-time", str(args.min_time)],
                                      KEYS, env=env)
        if not args.python_only:
            extra = []
            if list(args.modes) != list(MODES):
                extra += ["--modes", *args.modes]
            if list(args.batches) != list(BATCHES):
                extra += ["--batches", *map(str, args.batches)]
            rows += run_lines(["cargo", "bench", "--bench", "train", "--", str(model_dir),
                               "--backends", *args.backends, *extra], KEYS, env=env)

    def impl(r):
        return "pytorch-peft" if r["side"] == "pytorch" else f"{r['side']}-{r['backend']}"

    torch_rows = {(r["mode"], r["batch"]): r for r in rows if r["side"] == "pytorch"}
    print(f"\nLoRA step (SafeR-CLIP loss), ViT-B/32-size random weights, {args.threads} threads, "
          f"{os.uname().machine}, {os.cpu_count()} cores")
    print(f"{'impl':<16}{'mode':>8}{'batch':>6}{'examples/s':>12}{'x torch':>9}{'peak MB':>10}{'x torch':>9}")
    for r in sorted(rows, key=lambda r: (MODES.index(r["mode"]) if r["mode"] in MODES else 9, r["batch"],
                                         r["side"] != "pytorch")):
        t = torch_rows.get((r["mode"], r["batch"]))
        speed = f"{r['examples_per_s'] / t['examples_per_s']:>9.2f}" if t else f"{'-':>9}"
        peak = r.get("peak_rss_mb")
        peak_s = f"{peak:>10.0f}" if peak is not None else f"{'-':>10}"
        mem = (f"{peak / t['peak_rss_mb']:>9.2f}" if t and peak is not None and t.get("peak_rss_mb")
               else f"{'-':>9}")
        print(f"{impl(r):<16}{r['mode']:>8}{r['batch']:>6}{r['examples_per_s']:>12.2f}{speed}{peak_s}{mem}")


if __name__ == "__main__":
    main()
