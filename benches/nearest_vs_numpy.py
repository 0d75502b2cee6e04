#!/usr/bin/env python3
"""Nearest-safe lookup throughput of safer-clip (Burn) beside numpy and PyTorch on CPU.

For pools of 1,000 / 10,000 / 100,000 random unit-length float32 rows of dim 512 and a batch of
64 random unit queries, times a top-10 cosine lookup (the rows are unit length, so cosine is the
dot product):

  numpy:  scores = Q @ P.T, then np.argpartition + a sort of the top 10 of each row;
  torch:  torch.topk(Q @ P.T, 10) (sorted).

numpy and torch each run in their own process with the same thread count (--threads, set through
OMP/OPENBLAS/MKL_NUM_THREADS before numpy is imported, and torch.set_num_threads), so that
neither's thread pool or peak memory leaks into the other. Then `benches/nearest.rs` runs:

    cargo bench --bench nearest -- --backends flex

with RAYON_NUM_THREADS set to the same count. It prints one JSON line per measurement on stdout,
e.g. {"side": "burn", "backend": "flex", "pool": 10000, "queries": 64, "k": 10,
"queries_per_s": 1234.5}; other lines are ignored. The table at the end gives queries/s per pool
size and the ratio burn / torch.

    python3 benches/nearest_vs_numpy.py [--backends flex] [--threads N] [--min-time S]
                                        [--python-only | --rust-only]
"""

import argparse
import json
import os
import resource
import sys
from pathlib import Path

from bench_common import rate, run_lines  # noqa: E402

KEYS = ("side", "pool", "queries_per_s")

ROOT = Path(__file__).resolve().parent.parent
POOLS = (1_000, 10_000, 100_000)
DIM = 512
QUERIES = 64
K = 10
SEED = 0
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS", "RAYON_NUM_THREADS")


def unit_rows(rng, n):
    import numpy as np

    x = rng.standard_normal((n, DIM), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def worker(side, threads, min_time):
    """Runs in a child process: `side` is "numpy" or "torch". Prints one JSON line per pool."""
    for var in THREAD_VARS:  # before numpy (and its BLAS) is imported
        os.environ[var] = str(threads)
    import numpy as np

    if side == "torch":
        import torch

        torch.set_num_threads(threads)
    rng = np.random.default_rng(SEED)
    queries = unit_rows(rng, QUERIES)
    for pool_size in POOLS:
        pool = unit_rows(rng, pool_size)
        if side == "numpy":
            def lookup(q=queries, p=pool):
                scores = q @ p.T
                idx = np.argpartition(-scores, K - 1, axis=1)[:, :K]
                top = np.take_along_axis(scores, idx, axis=1)
                order = np.argsort(-top, axis=1, kind="stable")
                return np.take_along_axis(idx, order, axis=1), np.take_along_axis(top, order, axis=1)

            if pool_size <= 10_000:  # sanity: the same top 10 as a full sort (small pools only)
                got, _ = lookup()
                want = np.argsort(-(queries @ pool.T), axis=1, kind="stable")[:, :K]
                assert (got == want).mean() > 0.99, "numpy top-k disagrees with a full sort"
        else:
            q, p = torch.from_numpy(queries), torch.from_numpy(pool)

            def lookup(q=q, p=p):
                with torch.inference_mode():
                    return torch.topk(q @ p.T, K, dim=1)

        per_s = rate(lookup, min_time) * QUERIES
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"side": side, "backend": "cpu", "pool": pool_size, "queries": QUERIES, "k": K,
                          "queries_per_s": round(per_s, 1), "peak_rss_mb": round(peak, 1)}), flush=True)
        del pool


def column(row):
    return row["side"] if row["side"] != "burn" else f"burn-{row['backend']}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["flex"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=3.0, help="seconds to time each measurement (Python)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--python-only", action="store_true", help="skip the cargo bench")
    only.add_argument("--rust-only", action="store_true", help="skip numpy and torch")
    parser.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.threads, args.min_time)

    env = dict(os.environ, **{var: str(args.threads) for var in THREAD_VARS})
    rows = []
    if not args.rust_only:
        for side in ("numpy", "torch"):
            rows += run_lines([sys.executable, __file__, "--worker", side, "--threads", str(args.threads),
                               "--min-time", str(args.min_time)], KEYS, env=env)
    if not args.python_only:
        rows += run_lines(["cargo", "bench", "--bench", "nearest", "--",
                           "--backends", *args.backends], KEYS, env=env)

    columns = list(dict.fromkeys(column(r) for r in rows))
    burn = [c for c in columns if c.startswith("burn-")]
    table = {(r["pool"], column(r)): r["queries_per_s"] for r in rows}
    pools = sorted({r["pool"] for r in rows})
    print(f"\ntop-{K} cosine lookup, {QUERIES} queries x dim {DIM}, float32, {args.threads} threads, "
          f"{os.uname().machine}, {os.cpu_count()} cores; queries/s")
    header = f"{'pool':>8}" + "".join(f"{c:>15}" for c in columns) + "".join(f"{c + '/torch':>20}" for c in burn)
    print(header)
    for pool in pools:
        line = f"{pool:>8}"
        for c in columns:
            v = table.get((pool, c))
            line += f"{v:>15.1f}" if v is not None else f"{'-':>15}"
        torch_rate = table.get((pool, "torch"))
        for c in burn:
            v = table.get((pool, c))
            line += f"{v / torch_rate:>20.2f}" if v is not None and torch_rate else f"{'-':>20}"
        print(line)


if __name__ == "__main__":
    main()
