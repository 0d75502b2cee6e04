#!/usr/bin/env python3
"""PyTorch reference for HySAC's Lorentz geometry and training losses (docs/losses.md, "HySAC").

The geometry follows MERU/HySAC's `lorentz.py` formulas with the guards stated in
docs/losses.md (acos/asin inputs kept 1e-6 inside [-1, 1], the root distance and log map written
with asinh, distances and angles from the squared Lorentzian chord, free of cancellation). `check()` verifies, in float64, that the asinh
forms equal MERU's acosh forms, that every function passes torch.autograd.gradcheck, and that the
losses behave as the method intends (a specific point inside its general point's cone costs 0).

`main()` writes tests/fixtures/hysac.json: fixed inputs, every function's output and the
gradient of a fixed weighted sum of it (with respect to the points and the curvature), and every
HySAC loss term and total with gradients with respect to the tuned features and the head's
scalars. The Rust parity test (tests/hysac.rs) reads it. Needs only `torch`; CI does not run
this (the output is committed). Run from the repository root:  python3 scripts/reference_hysac.py
"""

import json
import math
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "hysac.json"

EPS = 1e-8          # norms are clamped to at least this (MERU's eps)
ANGLE_EPS = 1e-6    # acos/asin inputs within [-1 + 1e-6, 1 - 1e-6]
MIN_RADIUS = 0.1    # K in the half-aperture
MAX_SINH = math.asinh(2.0 ** 15)


# ----------------------------------------------------------------------------- geometry

def norms(x):
    return x.norm(dim=-1, keepdim=True)


def time_component(x, c):
    """x_t = sqrt(1/c + ||x||^2), [n, 1]."""
    return torch.sqrt(1.0 / c + (x ** 2).sum(-1, keepdim=True))


def exp_map0(v, c):
    """sinh(sqrt(c)||v||) v / (sqrt(c)||v||), the sinh input clamped to [EPS, asinh(2^15)]."""
    r = norms(v) * c.sqrt()
    return torch.sinh(r.clamp(EPS, MAX_SINH)) * v / r.clamp_min(EPS)


def log_map0(x, c):
    """asinh(sqrt(c)||x||) x / (sqrt(c)||x||)."""
    r = norms(x) * c.sqrt()
    return torch.asinh(r) * x / r.clamp_min(EPS)


def root_distance(x, c):
    """asinh(sqrt(c)||x||) / sqrt(c), [n]."""
    return (torch.asinh(norms(x) * c.sqrt()) / c.sqrt()).squeeze(-1)


def pairwise_inner(x, y, c):
    return x @ y.T - time_component(x, c) @ time_component(y, c).T


def excess_and_time_gap(x_sq, y_sq, dot, x_t, y_t, c):
    """e = -c <x, y>_L - 1 = c D^2 / 2 from the squared Lorentzian chord
    D^2 = ||x_s - y_s||^2 - (x_t - y_t)^2 (clamped at 0), x_t - y_t = (||x_s||^2 - ||y_s||^2) / (x_t + y_t)."""
    time_gap = (x_sq - y_sq) / (x_t + y_t)
    chord_sq = (x_sq + y_sq - 2 * dot - time_gap ** 2).clamp_min(0)
    return chord_sq * c / 2, time_gap


def squares_and_times(x, c):
    sq = (x ** 2).sum(-1, keepdim=True)
    return sq, torch.sqrt(sq + 1 / c)


def pairwise_distance(x, y, c):
    """acosh(-c <x, y>_L) / sqrt(c) = acosh(1 + e) / sqrt(c), [n, m], as 2 asinh(sqrt(max(e/2, EPS^2))) / sqrt(c)."""
    x_sq, x_t = squares_and_times(x, c)
    y_sq, y_t = squares_and_times(y, c)
    e, _ = excess_and_time_gap(x_sq, y_sq.T, x @ y.T, x_t, y_t.T, c)
    return 2 * torch.asinh((e / 2).clamp_min(EPS * EPS).sqrt()) / c.sqrt()


def half_aperture(x, c):
    """asin(clamp(2K / (sqrt(c)||x|| + EPS))), [n]."""
    ratio = 2 * MIN_RADIUS / (norms(x) * c.sqrt() + EPS)
    return torch.asin(ratio.clamp(-1 + ANGLE_EPS, 1 - ANGLE_EPS)).squeeze(-1)


def _exterior_angle(x, y, dot, pairwise, c):
    """acos((y_t - x_t - e x_t) / (||x_s|| sqrt(max(e (2 + e), EPS)) + EPS)), which is MERU's
    acos((y_t + c<x,y>_L x_t) / (||x_s|| sqrt((c<x,y>_L)^2 - 1))) without its cancellation."""
    x_sq, x_t = squares_and_times(x, c)
    y_sq, y_t = squares_and_times(y, c)
    if pairwise:
        y_sq, y_t = y_sq.T, y_t.T
    e, time_gap = excess_and_time_gap(x_sq, y_sq, dot, x_t, y_t, c)
    numerator = -time_gap - e * x_t
    denominator = torch.sqrt((e * (2 + e)).clamp_min(EPS))
    cosine = numerator / (x_sq.sqrt() * denominator + EPS)
    return torch.acos(cosine.clamp(-1 + ANGLE_EPS, 1 - ANGLE_EPS))


def oxy_angle(x, y, c):
    """Exterior angle at x of the triangle root-x-y, row by row, [n]."""
    return _exterior_angle(x, y, (x * y).sum(-1, keepdim=True), False, c).squeeze(-1)


def pairwise_oxy_angle(x, y, c):
    return _exterior_angle(x, y, x @ y.T, True, c)


def meru_oxy_angle(x, y, c):
    """MERU's formula, for the check that ours equals it."""
    x_t, y_t = time_component(x, c).squeeze(-1), time_component(y, c).squeeze(-1)
    c_xyl = c.squeeze() * ((x * y).sum(-1) - x_t * y_t)
    cosine = (y_t + c_xyl * x_t) / (x.norm(dim=-1) * torch.sqrt((c_xyl ** 2 - 1).clamp_min(1e-15)))
    return torch.acos(cosine.clamp(-1 + 1e-15, 1 - 1e-15))


GEOMETRY = {
    # name: (function, argument names)
    "time_component": (time_component, ("x",)),
    "exp_map0": (exp_map0, ("x",)),
    "log_map0": (log_map0, ("y",)),
    "root_distance": (root_distance, ("y",)),
    "pairwise_inner": (pairwise_inner, ("x", "y")),
    "pairwise_distance": (pairwise_distance, ("x", "y")),
    "half_aperture": (half_aperture, ("x",)),
    "oxy_angle": (oxy_angle, ("x", "z")),
    "pairwise_oxy_angle": (pairwise_oxy_angle, ("x", "y")),
}


# ----------------------------------------------------------------------------- losses

HEAD = ("log_curvature", "log_text_scale", "log_image_scale", "log_logit_scale")
TUNED = ("tuned_text_safe", "tuned_text_unsafe", "tuned_image_safe", "tuned_image_unsafe")
FROZEN = ("frozen_text_safe", "frozen_text_unsafe")


def lift(features, log_scale, log_c):
    return exp_map0(features * log_scale.exp(), log_c.exp())


def lorentz_infonce(text, image, head):
    """1/2 [CE(-s d(T, V), I) + CE(-s d(V, T), I)], s = exp(log_logit_scale)."""
    c = head["log_curvature"].exp()
    logits = -pairwise_distance(text, image, c) * head["log_logit_scale"].exp()
    labels = torch.arange(text.shape[0])
    ce = torch.nn.functional.cross_entropy
    return 0.5 * (ce(logits, labels) + ce(logits.T, labels))


def entailment(general, specific, head):
    """mean max(0, oxy_angle(general, specific) - half_aperture(general))."""
    c = head["log_curvature"].exp()
    return (oxy_angle(general, specific, c) - half_aperture(general, c)).clamp_min(0).mean()


def cosine_distance(a, b):
    n = lambda t: t / t.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # noqa: E731
    return (1 - (n(a) * n(b)).sum(-1)).mean()


def hysac_terms(x, head, with_images):
    """HySAC's terms in the order the Rust code lists them; equal weights 1/n."""
    c = head["log_curvature"]
    ts = lift(x["tuned_text_safe"], head["log_text_scale"], c)
    tu = lift(x["tuned_text_unsafe"], head["log_text_scale"], c)
    if with_images:
        vs = lift(x["tuned_image_safe"], head["log_image_scale"], c)
        vu = lift(x["tuned_image_unsafe"], head["log_image_scale"], c)
        return [
            ("hysac_nce_safe", lorentz_infonce(ts, vs, head)),
            ("hysac_nce_unsafe", lorentz_infonce(tu, vu, head)),
            ("hysac_nce_safe_text_unsafe_image", lorentz_infonce(ts, vu, head)),
            ("hysac_nce_unsafe_text_safe_image", lorentz_infonce(tu, vs, head)),
            ("hysac_entail_safe", entailment(ts, vs, head)),
            ("hysac_entail_unsafe", entailment(tu, vu, head)),
            ("hysac_entail_safe_image_unsafe_text", entailment(vs, tu, head)),
        ]
    return [
        ("hysac_nce_pair_textonly", lorentz_infonce(ts, tu, head)),
        ("hysac_entail_textonly", entailment(ts, tu, head)),
        ("pres_text_cos", cosine_distance(x["tuned_text_safe"], x["frozen_text_safe"])),
        ("hysac_pres_unsafe_text_cos", cosine_distance(x["tuned_text_unsafe"], x["frozen_text_unsafe"])),
    ]


# ----------------------------------------------------------------------------- cases

SIG = 12


def rnd(t):
    if isinstance(t, torch.Tensor):
        t = t.tolist()
    if isinstance(t, list):
        return [rnd(v) for v in t]
    return float(f"{t:.{SIG}g}")


def as_input(t):
    """Rounded to what the JSON stores, so stored inputs are exactly those computed from."""
    return torch.tensor(rnd(t), dtype=torch.float64)


def geometry_cases():
    out = []
    for name, seed, scale, curvature in [
        ("random", 1, 1.0, 1.0),
        ("near_origin", 2, 1e-3, 0.5),
        ("large_norm", 3, 3.0, 3.0),
    ]:
        g = torch.Generator().manual_seed(seed)
        r = lambda n: torch.randn(n, 8, generator=g, dtype=torch.float64) * scale  # noqa: E731
        points = {"x": r(4), "y": r(5), "z": r(4)}
        if name == "random":
            # One z inside x's cone (a point further out along x), one far outside it.
            points["z"][0] = points["x"][0] * 1.5 + 0.01 * torch.randn(8, generator=g, dtype=torch.float64)
            points["z"][1] = -points["x"][1]
        out.append((name, {k: as_input(v) for k, v in points.items()}, as_input(torch.tensor([[curvature]]))))
    return out


def loss_cases():
    out = []
    for name, seed, scale in [("random", 5, 2.0), ("small", 6, 0.05), ("large_norm", 7, 12.0)]:
        g = torch.Generator().manual_seed(seed)
        x = {k: torch.randn(4, 8, generator=g, dtype=torch.float64) * scale for k in TUNED}
        x["frozen_text_safe"] = x["tuned_text_safe"] + 0.1 * scale * torch.randn(4, 8, generator=g, dtype=torch.float64)
        x["frozen_text_unsafe"] = x["tuned_text_unsafe"] + 0.1 * scale * torch.randn(4, 8, generator=g, dtype=torch.float64)
        alpha = math.log(8 ** -0.5)
        head = {
            "log_curvature": math.log(1.3),
            "log_text_scale": alpha + 0.1,
            "log_image_scale": alpha - 0.1,
            "log_logit_scale": math.log(1 / 0.07) + 0.2,
        }
        out.append((
            name,
            {k: as_input(v) for k, v in x.items()},
            {k: as_input(torch.tensor([[v]])) for k, v in head.items()},
        ))
    return out


# ----------------------------------------------------------------------------- fixture

def eval_geometry(points, curvature):
    g = torch.Generator().manual_seed(99)
    result = {}
    for fname, (fn, args) in GEOMETRY.items():
        leaves = {a: points[a].clone().requires_grad_(True) for a in args}
        c = curvature.clone().requires_grad_(True)
        value = fn(*[leaves[a] for a in args], c)
        weights = as_input(torch.randn(value.shape, generator=g, dtype=torch.float64))
        grads = torch.autograd.grad((value * weights).sum(), [leaves[a] for a in args] + [c])
        result[fname] = {
            "value": rnd(value),
            "weights": rnd(weights),
            "grads": {**{a: rnd(gr) for a, gr in zip(args, grads)}, "curvature": rnd(grads[-1])},
        }
    return result


def eval_losses(inputs, head_values):
    out = {}
    for method, with_images in (("hysac", True), ("hysac_text", False)):
        def leaves():
            x = {k: v.clone().requires_grad_(k in TUNED) for k, v in inputs.items()}
            h = {k: v.clone().requires_grad_(True) for k, v in head_values.items()}
            return x, h

        def grads_of(value, x, h):
            names = [k for k in TUNED if x[k].requires_grad] + list(HEAD)
            tensors = [x[k] for k in TUNED if x[k].requires_grad] + [h[k] for k in HEAD]
            gs = torch.autograd.grad(value, tensors, allow_unused=True)
            return {n: rnd(g) for n, g in zip(names, gs) if g is not None}

        x, h = leaves()
        terms = hysac_terms(x, h, with_images)
        losses = {}
        for i, (name, _) in enumerate(terms):
            x, h = leaves()
            value = hysac_terms(x, h, with_images)[i][1]
            losses[name] = {"value": rnd(value.item()), "grads": grads_of(value, x, h)}
        x, h = leaves()
        total = sum(v for _, v in hysac_terms(x, h, with_images)) / len(terms)
        out[method] = {"terms": losses, "total": {"value": rnd(total.item()), "grads": grads_of(total, x, h)}}
    return out


# ----------------------------------------------------------------------------- checks

def check():
    g = torch.Generator().manual_seed(0)
    c = torch.tensor([[0.7]], dtype=torch.float64)
    x = torch.randn(6, 8, generator=g, dtype=torch.float64)
    y = torch.randn(5, 8, generator=g, dtype=torch.float64)
    # asinh forms equal MERU's acosh forms.
    meru_root = torch.acosh(torch.sqrt(c) * time_component(x, c)).squeeze(-1) / c.sqrt()
    assert torch.allclose(root_distance(x, c), meru_root, atol=1e-12)
    meru_log = torch.acosh(torch.sqrt(1 + c * (x ** 2).sum(-1, keepdim=True))) * x / (c.sqrt() * norms(x))
    assert torch.allclose(log_map0(x, c), meru_log, atol=1e-12)
    # log_map0 inverts exp_map0; root distance of exp_map0(v) is ||v||.
    assert torch.allclose(log_map0(exp_map0(x, c), c), x, atol=1e-10)
    assert torch.allclose(root_distance(exp_map0(x, c), c), norms(x).squeeze(-1), atol=1e-10)
    # The chord form of the distance equals MERU's acosh form.
    meru_distance = torch.acosh((-c * pairwise_inner(x, y, c)).clamp_min(1 + 1e-15)) / c.sqrt()
    assert torch.allclose(pairwise_distance(x, y, c), meru_distance, atol=1e-9)
    # Distance to the root point (space components 0) equals root_distance.
    root = torch.zeros(1, 8, dtype=torch.float64)
    assert torch.allclose(pairwise_distance(root, x, c).squeeze(0), root_distance(x, c), atol=1e-6)
    # A point further out along x is inside x's cone (angle ~ 0); its opposite is not.
    assert oxy_angle(x[:1], 2 * x[:1], c).item() < 2e-3  # acos(1 - ANGLE_EPS) = 1.4e-3
    assert oxy_angle(x[:1], -x[:1], c).item() > half_aperture(x[:1], c).item()
    assert torch.allclose(pairwise_oxy_angle(x, y, c).diagonal(), oxy_angle(x[:5], y, c), atol=1e-12)
    assert torch.allclose(oxy_angle(x[:5], y, c), meru_oxy_angle(x[:5], y, c), atol=1e-9)
    # Gradients.
    for fname, (fn, args) in GEOMETRY.items():
        inputs = {"x": x[:4], "y": y, "z": x[2:]}
        ok = torch.autograd.gradcheck(
            lambda *ts, fn=fn: fn(*ts[:-1], ts[-1]),
            tuple(inputs[a].clone().requires_grad_(True) for a in args) + (c.clone().requires_grad_(True),),
            eps=1e-7, atol=1e-6, rtol=1e-4)
        assert ok, fname


def main():
    torch.set_num_threads(1)
    check()
    fixture = {
        "constants": {"eps": EPS, "angle_eps": ANGLE_EPS, "min_radius": MIN_RADIUS},
        "geometry": [
            {"name": name, "points": {k: rnd(v) for k, v in points.items()}, "curvature": rnd(c),
             "functions": eval_geometry(points, c)}
            for name, points, c in geometry_cases()
        ],
        "losses": [
            {"name": name, "inputs": {k: rnd(v) for k, v in inputs.items()},
             "head": {k: rnd(v) for k, v in head.items()}, "methods": eval_losses(inputs, head)}
            for name, inputs, head in loss_cases()
        ],
    }
    OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
