#!/usr/bin/env python3
"""GPU dispatches and distinct compute pipelines of one text encode and one image encode on wgpu,
counted from CubeCL's debug log (CUBECL_DEBUG_LOG: a line per kernel launch and a block per
pipeline compiled). On a software GPU (lavapipe, SwiftShader) each dispatch is emulated, so this
count, not FLOPs, decides speed; the first search also waits for every pipeline to compile.

    python3 benches/dispatches.py MODEL_DIR [--binary target/release/safer-clip] [--texts N] [--images N]

Prints one JSON object per encode, then a table.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = re.compile(r"^\| +[0-9.]+[nµm]?s +\| (.+)$")


def count(binary, model, args):
    env = dict(os.environ, CUBECL_DEBUG_LOG="stdout")
    env.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())
    out = subprocess.run([binary, "encode", "--model", model, "--backend", "wgpu", *args], env=env,
                         capture_output=True, text=True, check=True).stdout
    launches = [m.group(1) for m in map(LAUNCH.match, out.splitlines()) if m]
    kinds = {}
    for name in launches:
        kind = name.split(" | ")[0].split("_")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return {"dispatches": len(launches), "pipelines": out.count("[START_KERNEL_COMPILATION]"),
            "by_kind": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:8])}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--binary", default=str(ROOT / "target/release/safer-clip"))
    parser.add_argument("--texts", type=int, default=1)
    parser.add_argument("--images", type=int, default=1)
    parser.add_argument("--image", default=str(ROOT / "tests/fixtures/images/down-57x83.png"))
    args = parser.parse_args()
    texts = [arg for i in range(args.texts) for arg in ("--text", f"a photo of a dog number {i}")]
    images = [arg for _ in range(args.images) for arg in ("--image", args.image)]
    rows = []
    for what, inputs in (("text", texts), ("image", images)):
        row = {"encode": what, "batch": args.texts if what == "text" else args.images, **count(args.binary, args.model, inputs)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n{'encode':<8}{'batch':>6}{'dispatches':>12}{'pipelines':>11}  most frequent")
    for r in rows:
        top = ", ".join(f"{k} {v}" for k, v in list(r["by_kind"].items())[:4])
        print(f"{r['encode']:<8}{r['batch']:>6}{r['dispatches']:>12}{r['pipelines']:>11}  {top}")


if __name__ == "__main__":
    sys.exit(main())
