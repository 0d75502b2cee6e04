#!/usr/bin/env python3
"""PyTorch reference for the Safe-CLIP and SafeR-CLIP training losses (see docs/losses.md).

Every loss takes the *raw* projected embeddings (`text_embeds` / `image_embeds` before any
normalisation, shape [B, D]) and normalises them inside, exactly as docs/losses.md states.
Tuned-model embeddings are written T(.) / V(.), frozen-reference embeddings T0(.) / V0(.);
t = safe caption, t* = unsafe caption, t^ = nearest-safe target caption (SafeR-CLIP), and the
same for images v, v*, v^.

`main()` writes tests/fixtures/losses.json: fixed float64 inputs, every loss value, the
gradient of every loss with respect to each trainable (tuned) input it depends on, and the
weighted totals of both methods (full and text-only). The Rust parity test reads it.

Needs only `torch`. CI does not run this: the output is committed.
Run from the repository root:  python3 scripts/reference_losses.py
"""

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "losses.json"

# Logit scale of the symmetric InfoNCE terms. The official Safe-CLIP code uses the constant
# exp(4.6052) = 100.0030 (training/losses.py); we use exactly 100 (CLIP's clamp value) and
# record both in the fixture. The difference changes loss values by ~3e-5 relative.
LOGIT_SCALE = 100.0
SAFECLIP_OFFICIAL_LOGIT_SCALE = math.exp(4.6052)
# Norm floor used when normalising: x / max(||x||_2, EPS), as torch.nn.functional.normalize.
EPS = 1e-12

# Safe-CLIP's lambdas in the order of the official code (training/train.py `losses`).
SAFECLIP_LAMBDAS = (0.1, 0.1, 0.1, 0.2, 0.25, 0.25, 0.25, 0.5)

# Names of the ten inputs. The four `tuned_*` are trainable (they carry gradients); the six
# `frozen_*` come from the frozen reference encoders and get none.
TRAINABLE = ("tuned_text_safe", "tuned_text_unsafe", "tuned_image_safe", "tuned_image_unsafe")
FROZEN = (
    "frozen_text_safe",      # T0(t)
    "frozen_text_unsafe",    # T0(t*)
    "frozen_text_target",    # T0(t^)   nearest safe caption of t* (SafeR-CLIP)
    "frozen_image_safe",     # V0(v)
    "frozen_image_unsafe",   # V0(v*)
    "frozen_image_target",   # V0(v^)   image paired with t^ (SafeR-CLIP)
)
INPUTS = TRAINABLE + FROZEN


# ----------------------------------------------------------------------------- primitives

def normalize(x):
    """n(x) = x / max(||x||_2, EPS), row-wise over the last dimension."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(EPS)


def cos_rows(a, b):
    """cos(a_i, b_i) = n(a_i) . n(b_i) for each row i; shape [B]."""
    return (normalize(a) * normalize(b)).sum(dim=-1)


def cosine_distance(a, b):
    """(1/B) sum_i (1 - cos(a_i, b_i))."""
    return (1.0 - cos_rows(a, b)).mean()


def clip_infonce(a, b, logit_scale=LOGIT_SCALE):
    """Symmetric InfoNCE (CLIP loss) with a fixed logit scale s and the diagonal as positives.

    L = 1/2 [ CE(s * n(A) n(B)^T, I) + CE(s * n(B) n(A)^T, I) ],
    CE(Z, I) = (1/B) sum_i ( logsumexp_j Z_ij - Z_ii ).
    Symmetric in (a, b); identical to Safe-CLIP's CLIPLoss_Positive with temperature 1.
    """
    logits = logit_scale * normalize(a) @ normalize(b).T
    labels = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def relative_redirection(anchor, negative, positive):
    """(1/B) sum_i softplus( cos(anchor_i, negative_i) - cos(anchor_i, positive_i) ),
    softplus(x) = log(1 + exp(x))."""
    return F.softplus(cos_rows(anchor, negative) - cos_rows(anchor, positive)).mean()


# ----------------------------------------------------------------------------- Safe-CLIP
# The eight terms, in the order and with the lambdas of the official code.

def pres_text_cos(tuned_text_safe, frozen_text_safe):
    """L1 (lambda 0.1)  = mean_i 1 - cos(T(t_i), T0(t_i))      [code: text_safe_loss]
    Also SafeR-CLIP's text preservation term P_txt."""
    return cosine_distance(tuned_text_safe, frozen_text_safe)


def safeclip_redir_text_cos(tuned_text_unsafe, frozen_text_safe):
    """L2 (lambda 0.1)  = mean_i 1 - cos(T(t*_i), T0(t_i))     [code: text_nsfw_loss]"""
    return cosine_distance(tuned_text_unsafe, frozen_text_safe)


def pres_image_cos(tuned_image_safe, frozen_image_safe):
    """L3 (lambda 0.1)  = mean_i 1 - cos(V(v_i), V0(v_i))      [code: vision_safe_loss]
    Also SafeR-CLIP's image preservation term P_img."""
    return cosine_distance(tuned_image_safe, frozen_image_safe)


def safeclip_redir_image_cos(tuned_image_unsafe, frozen_image_safe):
    """L4 (lambda 0.2)  = mean_i 1 - cos(V(v*_i), V0(v_i))     [code: vision_nsfw_loss]"""
    return cosine_distance(tuned_image_unsafe, frozen_image_safe)


def safeclip_pres_text_nce(tuned_text_safe, frozen_image_safe, logit_scale=LOGIT_SCALE):
    """L5 (lambda 0.25) = InfoNCE_sym(T(t), V0(v))              [code: S_Vref_contrastive_loss]"""
    return clip_infonce(tuned_text_safe, frozen_image_safe, logit_scale)


def safeclip_redir_text_nce(tuned_text_unsafe, frozen_image_safe, logit_scale=LOGIT_SCALE):
    """L6 (lambda 0.25) = InfoNCE_sym(T(t*), V0(v))             [code: U_Vref_contrastive_loss]"""
    return clip_infonce(tuned_text_unsafe, frozen_image_safe, logit_scale)


def safeclip_pres_image_nce(frozen_text_safe, tuned_image_safe, logit_scale=LOGIT_SCALE):
    """L7 (lambda 0.25) = InfoNCE_sym(T0(t), V(v))              [code: V_Sref_contrastive_loss]"""
    return clip_infonce(frozen_text_safe, tuned_image_safe, logit_scale)


def safeclip_redir_image_nce(frozen_text_safe, tuned_image_unsafe, logit_scale=LOGIT_SCALE):
    """L8 (lambda 0.5)  = InfoNCE_sym(T0(t), V(v*))             [code: G_Sref_contrastive_loss]"""
    return clip_infonce(frozen_text_safe, tuned_image_unsafe, logit_scale)


# Text-only analogues of L5 and L6 (ours; docs/losses.md "Text-only variants"): the frozen
# safe *text* embedding T0(t) takes the place of the frozen safe image embedding V0(v).

def safeclip_pres_text_nce_textonly(tuned_text_safe, frozen_text_safe, logit_scale=LOGIT_SCALE):
    """L5' (lambda 0.25) = InfoNCE_sym(T(t), T0(t))"""
    return clip_infonce(tuned_text_safe, frozen_text_safe, logit_scale)


def safeclip_redir_text_nce_textonly(tuned_text_unsafe, frozen_text_safe, logit_scale=LOGIT_SCALE):
    """L6' (lambda 0.25) = InfoNCE_sym(T(t*), T0(t))"""
    return clip_infonce(tuned_text_unsafe, frozen_text_safe, logit_scale)


# ----------------------------------------------------------------------------- SafeR-CLIP

def safer_rel_image(tuned_image_unsafe, frozen_text_unsafe, frozen_text_target):
    """R_img = mean_i softplus( cos(V(v*_i), T0(t*_i)) - cos(V(v*_i), T0(t^_i)) )"""
    return relative_redirection(tuned_image_unsafe, frozen_text_unsafe, frozen_text_target)


def safer_rel_text(tuned_text_unsafe, frozen_image_unsafe, frozen_image_target):
    """R_txt = mean_i softplus( cos(T(t*_i), V0(v*_i)) - cos(T(t*_i), V0(v^_i)) )"""
    return relative_redirection(tuned_text_unsafe, frozen_image_unsafe, frozen_image_target)


def safer_rel_text_textonly(tuned_text_unsafe, frozen_text_unsafe, frozen_text_target):
    """R_txt' = mean_i softplus( cos(T(t*_i), T0(t*_i)) - cos(T(t*_i), T0(t^_i)) )  (text-only analogue)"""
    return relative_redirection(tuned_text_unsafe, frozen_text_unsafe, frozen_text_target)


def safer_uni_text(tuned_text_unsafe, frozen_text_target):
    """U_txt = mean_i 1 - cos(T(t*_i), T0(t^_i))"""
    return cosine_distance(tuned_text_unsafe, frozen_text_target)


def safer_uni_image(tuned_image_unsafe, frozen_image_target):
    """U_img = mean_i 1 - cos(V(v*_i), V0(v^_i))"""
    return cosine_distance(tuned_image_unsafe, frozen_image_target)


# name -> function; each function's parameter names are input names.
LOSSES = {
    "pres_text_cos": pres_text_cos,
    "safeclip_redir_text_cos": safeclip_redir_text_cos,
    "pres_image_cos": pres_image_cos,
    "safeclip_redir_image_cos": safeclip_redir_image_cos,
    "safeclip_pres_text_nce": safeclip_pres_text_nce,
    "safeclip_redir_text_nce": safeclip_redir_text_nce,
    "safeclip_pres_image_nce": safeclip_pres_image_nce,
    "safeclip_redir_image_nce": safeclip_redir_image_nce,
    "safeclip_pres_text_nce_textonly": safeclip_pres_text_nce_textonly,
    "safeclip_redir_text_nce_textonly": safeclip_redir_text_nce_textonly,
    "safer_rel_image": safer_rel_image,
    "safer_rel_text": safer_rel_text,
    "safer_rel_text_textonly": safer_rel_text_textonly,
    "safer_uni_text": safer_uni_text,
    "safer_uni_image": safer_uni_image,
}


def loss_args(fn):
    code = fn.__code__
    return [a for a in code.co_varnames[: code.co_argcount] if a in INPUTS]


# ----------------------------------------------------------------------------- totals

def safeclip_combine(lambdas, losses):
    """Safe-CLIP's combination, applied to whichever terms are present:
    total = sum_i lambda_i L_i / (sum_i lambda_i * n)   (n = number of terms).
    With all eight terms this is the official code exactly: safeclip_training.py divides the
    lambdas by their sum, train.py then computes (lambdas @ losses) / lambdas.numel()."""
    n = len(lambdas)
    s = sum(lambdas)
    weights = [l / (s * n) for l in lambdas]
    return weights, sum(w * x for w, x in zip(weights, losses))


def safer_combine(lambdas, losses):
    """SafeR-CLIP's combination (our choice, docs/losses.md): plain weighted sum
    total = sum_i lambda_i L_i, default lambda_i = 1."""
    weights = list(lambdas)
    return weights, sum(w * x for w, x in zip(weights, losses))


# method -> (combiner, [(loss name, lambda)])
TOTALS = {
    "safeclip": (safeclip_combine, list(zip(
        ["pres_text_cos", "safeclip_redir_text_cos", "pres_image_cos",
         "safeclip_redir_image_cos", "safeclip_pres_text_nce", "safeclip_redir_text_nce",
         "safeclip_pres_image_nce", "safeclip_redir_image_nce"],
        SAFECLIP_LAMBDAS))),
    "safeclip_text": (safeclip_combine, [
        ("pres_text_cos", 0.1),
        ("safeclip_redir_text_cos", 0.1),
        ("safeclip_pres_text_nce_textonly", 0.25),
        ("safeclip_redir_text_nce_textonly", 0.25),
    ]),
    "safer": (safer_combine, [
        ("safer_rel_image", 1.0),
        ("safer_rel_text", 1.0),
        ("safer_uni_text", 1.0),
        ("safer_uni_image", 1.0),
        ("pres_text_cos", 1.0),
        ("pres_image_cos", 1.0),
    ]),
    "safer_text": (safer_combine, [
        ("safer_rel_text_textonly", 1.0),
        ("safer_uni_text", 1.0),
        ("pres_text_cos", 1.0),
    ]),
}


# ----------------------------------------------------------------------------- cases

def make_cases():
    """Three fixed cases, B=4, D=8, float64."""
    B, D = 4, 8
    cases = []

    g = torch.Generator().manual_seed(20240917)
    cases.append(("random", {k: torch.randn(B, D, generator=g, dtype=torch.float64) for k in INPUTS}))

    # Near-degenerate: the state at the start of LoRA training (tuned == frozen up to 1e-6),
    # two nearly identical rows in a batch (InfoNCE near-tie), and one unsafe item already
    # almost at its target (relative-loss argument ~ 0).
    g = torch.Generator().manual_seed(7)
    r = lambda: torch.randn(B, D, generator=g, dtype=torch.float64)  # noqa: E731
    x = {k: r() for k in FROZEN}
    x["frozen_text_safe"][2] = x["frozen_text_safe"][1] + 1e-6 * torch.randn(D, generator=g, dtype=torch.float64)
    x["frozen_image_safe"][2] = x["frozen_image_safe"][1] + 1e-6 * torch.randn(D, generator=g, dtype=torch.float64)
    x["frozen_text_target"][3] = x["frozen_text_unsafe"][3] + 1e-6 * torch.randn(D, generator=g, dtype=torch.float64)
    x["frozen_image_target"][3] = x["frozen_image_unsafe"][3] + 1e-6 * torch.randn(D, generator=g, dtype=torch.float64)
    x["tuned_text_safe"] = x["frozen_text_safe"] + 1e-6 * r()
    x["tuned_text_unsafe"] = x["frozen_text_unsafe"] + 1e-6 * r()
    x["tuned_image_safe"] = x["frozen_image_safe"] + 1e-6 * r()
    x["tuned_image_unsafe"] = x["frozen_image_unsafe"] + 1e-6 * r()
    x["tuned_text_safe"][0] = x["frozen_text_safe"][0]  # exactly equal row: 1 - cos = 0
    cases.append(("near_degenerate", x))

    # Large norms: every row has a norm between 500 and 2000 (losses are scale-free; the
    # gradients scale as 1/||x||).
    g = torch.Generator().manual_seed(11)
    x = {}
    for k in INPUTS:
        d = torch.randn(B, D, generator=g, dtype=torch.float64)
        norms = 500.0 + 1500.0 * torch.rand(B, 1, generator=g, dtype=torch.float64)
        x[k] = normalize(d) * norms
    cases.append(("large_norm", x))
    return cases


# ----------------------------------------------------------------------------- fixture

SIG = 10  # significant digits stored (keeps the file small; inputs are rounded before use)


def rnd(t):
    if isinstance(t, torch.Tensor):
        t = t.tolist()
    if isinstance(t, list):
        return [rnd(v) for v in t]
    return float(f"{t:.{SIG}g}")


def eval_case(inputs):
    leaves = {k: v.clone().requires_grad_(k in TRAINABLE) for k, v in inputs.items()}
    losses = {}
    values = {}
    for name, fn in LOSSES.items():
        args = loss_args(fn)
        val = fn(**{a: leaves[a] for a in args})
        values[name] = val
        wrt = [a for a in args if a in TRAINABLE]
        grads = torch.autograd.grad(val, [leaves[a] for a in wrt], retain_graph=True)
        losses[name] = {"value": rnd(val.item()), "grads": {a: rnd(gr) for a, gr in zip(wrt, grads)}}
    totals = {}
    for method, (combine, terms) in TOTALS.items():
        names = [n for n, _ in terms]
        weights, total = combine([l for _, l in terms], [values[n] for n in names])
        wrt = sorted({a for n in names for a in loss_args(LOSSES[n]) if a in TRAINABLE}, key=TRAINABLE.index)
        grads = torch.autograd.grad(total, [leaves[a] for a in wrt], retain_graph=True)
        totals[method] = {
            "terms": names,
            "weights": [rnd(w) for w in weights],
            "value": rnd(total.item()),
            "grads": {a: rnd(gr) for a, gr in zip(wrt, grads)},
        }
    return losses, totals, values


# ----------------------------------------------------------------------------- checks

def official_safeclip_total(x):
    """Independent re-statement of the official Safe-CLIP code path (training/losses.py,
    training/train.py, safeclip_training.py) with its logit scale exp(4.6052)."""
    class Contrastive:  # CLIPLoss_Positive
        logit_scale = torch.tensor(4.6052, dtype=torch.float64).exp()

        def __call__(self, image_embed, text_embed):
            image_embed = image_embed / image_embed.norm(dim=1, keepdim=True)
            text_embed = text_embed / text_embed.norm(dim=1, keepdim=True)
            li = self.logit_scale * image_embed @ text_embed.t()
            lt = self.logit_scale * text_embed @ image_embed.t()
            labels = torch.arange(image_embed.shape[0])
            return 0.5 * (F.cross_entropy(li, labels) + F.cross_entropy(lt, labels))

    dist = lambda a, b: 1 - torch.nn.CosineSimilarity()(a, b)  # noqa: E731  CosineDistance
    c = Contrastive()
    S, U = x["tuned_text_safe"], x["tuned_text_unsafe"]
    V, G = x["tuned_image_safe"], x["tuned_image_unsafe"]
    Sref, Vref = x["frozen_text_safe"], x["frozen_image_safe"]
    losses = torch.stack([
        dist(S, Sref).mean(0), dist(U, Sref).mean(0), dist(V, Vref).mean(0), dist(G, Vref).mean(0),
        c(S, Vref), c(U, Vref), c(Sref, V), c(Sref, G),
    ])
    lambdas = torch.tensor(SAFECLIP_LAMBDAS, dtype=torch.float64)
    lambdas = lambdas / lambdas.sum()
    return (lambdas @ losses) / lambdas.numel()


def check(cases_out, raw_cases):
    # 1. finite-difference gradient check of every loss and total, on every case
    for name, inputs in raw_cases:
        for lname, fn in LOSSES.items():
            args = loss_args(fn)
            wrt = [a for a in args if a in TRAINABLE]

            def f(*ts, fn=fn, args=args, wrt=wrt, inputs=inputs):
                kw = {a: inputs[a] for a in args}
                kw.update(dict(zip(wrt, ts)))
                return fn(**kw)

            ok = torch.autograd.gradcheck(
                f, tuple(inputs[a].clone().requires_grad_(True) for a in wrt),
                eps=1e-6 * max(1.0, inputs[wrt[0]].abs().max().item()), atol=1e-7, rtol=1e-4)
            assert ok, (name, lname)

    # 2. the Safe-CLIP total matches the official code path (logit scale 100.003 vs 100)
    for (name, inputs), case in zip(raw_cases, cases_out):
        official = official_safeclip_total(inputs).item()
        ours_at_official_scale = official_safeclip_total_ours(inputs)
        assert abs(official - ours_at_official_scale) <= 1e-12 * max(1.0, abs(official)), (name, official, ours_at_official_scale)
        ours = case["totals"]["safeclip"]["value"]
        assert abs(official - ours) <= 1e-3 * max(1.0, abs(official)), (name, official, ours)

    # 3. properties: losses are invariant to rescaling each row; near-degenerate values sane
    for name, inputs in raw_cases:
        scaled = {k: v * (3.0 + torch.arange(v.shape[0], dtype=v.dtype)[:, None]) for k, v in inputs.items()}
        for lname, fn in LOSSES.items():
            args = loss_args(fn)
            a = fn(**{k: inputs[k] for k in args}).item()
            b = fn(**{k: scaled[k] for k in args}).item()
            assert abs(a - b) <= 1e-9 * max(1.0, abs(a)), (name, lname, a, b)
    nd = cases_out[[n for n, _ in raw_cases].index("near_degenerate")]["losses"]
    assert nd["pres_text_cos"]["value"] < 1e-10
    assert nd["pres_image_cos"]["value"] < 1e-10
    for lname in ("safer_rel_image", "safer_rel_text"):
        assert 0 < nd[lname]["value"] < 2.2, (lname, nd[lname]["value"])


def official_safeclip_total_ours(inputs):
    """Our functions at the official logit scale, combined as the official code does."""
    x = inputs
    s = SAFECLIP_OFFICIAL_LOGIT_SCALE
    ls = [
        pres_text_cos(x["tuned_text_safe"], x["frozen_text_safe"]),
        safeclip_redir_text_cos(x["tuned_text_unsafe"], x["frozen_text_safe"]),
        pres_image_cos(x["tuned_image_safe"], x["frozen_image_safe"]),
        safeclip_redir_image_cos(x["tuned_image_unsafe"], x["frozen_image_safe"]),
        safeclip_pres_text_nce(x["tuned_text_safe"], x["frozen_image_safe"], s),
        safeclip_redir_text_nce(x["tuned_text_unsafe"], x["frozen_image_safe"], s),
        safeclip_pres_image_nce(x["frozen_text_safe"], x["tuned_image_safe"], s),
        safeclip_redir_image_nce(x["frozen_text_safe"], x["tuned_image_unsafe"], s),
    ]
    return safeclip_combine(list(SAFECLIP_LAMBDAS), ls)[1].item()


# ----------------------------------------------------------------------------- main

def main():
    torch.set_num_threads(1)
    # Round the inputs to what the JSON stores *before* computing, so that the stored inputs
    # are exactly the ones the stored values and gradients were computed from.
    raw_cases = [(n, {k: torch.tensor(rnd(v), dtype=torch.float64) for k, v in x.items()})
                 for n, x in make_cases()]
    cases_out = []
    for name, inputs in raw_cases:
        losses, totals, _ = eval_case(inputs)
        cases_out.append({
            "name": name,
            "batch": inputs["tuned_text_safe"].shape[0],
            "dim": inputs["tuned_text_safe"].shape[1],
            "inputs": {k: rnd(inputs[k]) for k in INPUTS},
            "losses": losses,
            "totals": totals,
        })
    check(cases_out, raw_cases)

    fixture = {
        "generator": "scripts/reference_losses.py (PyTorch float64); spec: docs/losses.md",
        "logit_scale": LOGIT_SCALE,
        "safeclip_official_logit_scale": SAFECLIP_OFFICIAL_LOGIT_SCALE,
        "norm_eps": EPS,
        "trainable_inputs": list(TRAINABLE),
        "frozen_inputs": list(FROZEN),
        "loss_args": {n: loss_args(fn) for n, fn in LOSSES.items()},
        "cases": cases_out,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fixture, separators=(",", ":"))
    OUT.write_text(text + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text) / 1024:.1f} KiB)")
    for case in cases_out:
        print(f"\n[{case['name']}]")
        for n, v in case["losses"].items():
            print(f"  {n:36s} {v['value']:.10g}")
        for n, v in case["totals"].items():
            print(f"  total {n:30s} {v['value']:.10g}")


if __name__ == "__main__":
    main()
