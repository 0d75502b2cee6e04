"""Helpers shared by the Python halves of the benchmarks (imported from the benches/ folder)."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "assets" / "clip-vit-base-patch32"


def rate(fn, min_time=3.0):
    """Calls per second of `fn`: one warm-up call, then at least `min_time` s and 3 calls."""
    fn()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < min_time or calls < 3:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def make_model(out_dir):
    """A ViT-B/32-size CLIPModel with random weights (seed 0) and the real tokenizer, saved as a
    hub-style folder."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig.from_pretrained(SHARED) if SHARED.exists() else CLIPConfig()
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(out_dir, safe_serialization=True)
    if SHARED.exists():
        shutil.copy(SHARED / "tokenizer.json", Path(out_dir) / "tokenizer.json")
    else:
        sys.exit("needs ../shared/assets/clip-vit-base-patch32/tokenizer.json")


def run_lines(cmd, keys, env=None):
    """Runs a measuring process and echoes each JSON result line (an object holding all of
    `keys`) as it comes, since runs take minutes; other lines are ignored (cargo's own output
    goes to stderr, which is left alone)."""
    rows = []
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) as process:
        for line in process.stdout:
            line = line.strip()
            try:
                row = json.loads(line) if line.startswith("{") else None
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict) and set(keys) <= row.keys():
                print(line, flush=True)
                rows.append(row)
    if process.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd[:3]))} failed with exit code {process.returncode}")
    return rows
