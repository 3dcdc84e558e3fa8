"""Benchmark: our IQF head against GluonTS's ISQF, on identical parameters.

Run from the repository root::

    python benchmarks/bench_iqf_head.py              # print the tables
    python benchmarks/bench_iqf_head.py --write-docs # also update docs/benchmarks.md

Both heads get the same distribution parameters: knot levels ``a`` (K,),
increasing knot values (B, T, K), tail rates (B, T) and the raw piece logits
(B, T, K-1, P). GluonTS's ``ISQF(spline_knots, spline_heights, beta_l, beta_r,
qk_y, qk_x, tol)`` maps the logits to shares inside its constructor; ours maps
them with ``spline.shares`` and builds ``IQF(a, qk_y, beta_l, beta_r,
level_shares, value_shares)``. Every timed call includes building the
distribution from those tensors. Timed, in one process and interleaved round
by round so that both sides see the same machine load:

1. CRPS forward + backward for B x T = 256 x 48 targets, gradients w.r.t. the
   logits, the knot values and both tail rates;
2. quantiles at 99 levels (ours ``IQF.quantile(levels)`` -> (B, T, L); GluonTS
   ``ISQF.quantile(alpha)`` with alpha of shape (L, B, T)), without gradients;
3. 100 samples (``sample((100,))``), without gradients.

Numerical checks: CRPS, its gradients, quantiles and samples (same seed, hence
the same uniforms) agree between the two in float64 and float32; each CRPS is
compared with ``2 int_0^1 rho_u(y - q(u)) du`` by ``scipy.integrate.quad`` to
find GluonTS's normalisation (ours is the standard CRPS).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a checkout without installing

import warnings

warnings.filterwarnings("ignore", module="gluonts.json")

import gluonts
import torch
from gluonts.torch.distributions.isqf import ISQF
from scipy import integrate

from gluonts_qf.distributions import IQF
from gluonts_qf.distributions import spline as ops

B, T, K = 256, 48, 9
NUM_LEVELS, NUM_SAMPLES, TOL = 99, 100, 1e-4
SECTION = "## IQF head vs GluonTS ISQF"
COMMAND = "python benchmarks/bench_iqf_head.py --write-docs"


class Params(NamedTuple):
    """Distribution parameters shared by both heads (leaves for autograd)."""

    levels: torch.Tensor  # (K,)
    level_logits: torch.Tensor  # (B, T, K-1, P)
    value_logits: torch.Tensor  # (B, T, K-1, P)
    values: torch.Tensor  # (B, T, K), increasing
    beta_l: torch.Tensor  # (B, T)
    beta_r: torch.Tensor  # (B, T)

    def leaves(self) -> list[torch.Tensor]:
        return [
            self.level_logits,
            self.value_logits,
            self.values,
            self.beta_l,
            self.beta_r,
        ]

    def to(self, dtype: torch.dtype, grad: bool = False) -> Params:
        return Params(
            *(
                t.detach().to(dtype).requires_grad_(grad and i > 0)
                for i, t in enumerate(self)
            )
        )


def make_params(pieces: int, seed: int = 0) -> Params:
    """Random parameters in float64: knot values of a few units, rates in [0.5, 3]."""
    g = torch.Generator().manual_seed(seed)
    d = torch.float64
    raw = torch.randn(B, T, K, generator=g, dtype=d)
    steps = torch.cat(
        [3 * raw[..., :1], torch.nn.functional.softplus(raw[..., 1:]) + TOL], -1
    )
    return Params(
        levels=torch.linspace(0.1, 0.9, K, dtype=d),
        level_logits=torch.randn(B, T, K - 1, pieces, generator=g, dtype=d),
        value_logits=torch.randn(B, T, K - 1, pieces, generator=g, dtype=d),
        values=torch.cumsum(steps, -1),
        beta_l=0.5 + 2.5 * torch.rand(B, T, generator=g, dtype=d),
        beta_r=0.5 + 2.5 * torch.rand(B, T, generator=g, dtype=d),
    )


def ours(p: Params) -> IQF:
    """Our head; ``P == 1`` uses the plain IQF path (no shares)."""
    if p.level_logits.shape[-1] == 1:
        return IQF(p.levels, p.values, p.beta_l, p.beta_r)
    shares = ops.shares(p.level_logits, TOL), ops.shares(p.value_logits, TOL)
    return IQF(p.levels, p.values, p.beta_l, p.beta_r, *shares)


def theirs(p: Params) -> ISQF:
    """GluonTS's head: qk_x is repeated over the batch, as ISQFOutput does."""
    qk_x = p.levels.expand(*p.values.shape[:-1], -1)
    return ISQF(p.level_logits, p.value_logits, p.beta_l, p.beta_r, p.values, qk_x, TOL)


def quantiles_ours(p: Params, levels: torch.Tensor) -> torch.Tensor:
    return ours(p).quantile(levels)  # (B, T, L)


def quantiles_theirs(p: Params, levels: torch.Tensor) -> torch.Tensor:
    alpha = levels.reshape(-1, 1, 1).expand(-1, *p.beta_l.shape)  # (L, B, T)
    return theirs(p).quantile(alpha).movedim(0, -1)  # (L, B, T) -> (B, T, L)


def crps_and_grads(head: Callable, p: Params, y: torch.Tensor):
    """CRPS (B, T) and the gradients of its sum w.r.t. the leaves."""
    for t in p.leaves():
        t.grad = None
    loss = head(p).crps(y)
    loss.sum().backward()
    return loss.detach(), [t.grad for t in p.leaves()]


def make_targets(p: Params, seed: int = 1) -> torch.Tensor:
    """Targets spread over the whole distribution, tails included (B, T)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(B, T, generator=g, dtype=torch.float64).clamp(1e-4, 1 - 1e-4)
    with torch.no_grad():
        return ours(p.to(torch.float64)).icdf(u)


# ---------------------------------------------------------------- numerics --


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs() / b.double().abs()).max().item()


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def grad_diff(ga: list[torch.Tensor | None], gb: list[torch.Tensor | None]) -> float:
    """Largest gradient difference relative to the largest gradient, per leaf.

    A leaf that a head ignores (the logits of ``P == 1`` for ours) has no
    gradient and counts as zeros.
    """
    worst = 0.0
    for a, b in zip(ga, gb):
        if a is None and b is None:
            continue
        a = torch.zeros_like(b) if a is None else a
        b = torch.zeros_like(a) if b is None else b
        worst = max(worst, max_abs(a, b) / max(b.abs().max().item(), 1e-300))
    return worst


def quad_crps(icdf: Callable[[float], float], y: float, breaks: list[float]) -> float:
    """``2 int_0^1 rho_u(y - q(u)) du`` by adaptive quadrature."""

    def f(u: float) -> float:
        e = y - icdf(u)
        return 2.0 * e * (u - float(e < 0))

    pts = sorted(b for b in breaks if 0 < b < 1)
    return integrate.quad(f, 0, 1, points=pts, limit=500, epsabs=1e-13, epsrel=1e-11)[0]


def normalisation_check(p: Params, y: torch.Tensor, n: int = 8) -> dict[str, float]:
    """CRPS / quadrature for ``n`` targets of one series, both heads (float64)."""
    row = Params(
        *(t if i == 0 else t[:1, :1] for i, t in enumerate(p.to(torch.float64)))
    )
    d_ours, d_theirs = ours(row), theirs(row)
    ys = torch.linspace(-0.2, 1.2, n, dtype=torch.float64)
    lo, hi = (
        d_ours.icdf(torch.tensor(0.01, dtype=torch.float64)),
        d_ours.icdf(torch.tensor(0.99, dtype=torch.float64)),
    )
    ys = lo + (hi - lo) * ys  # from the left tail to the right tail
    brk = d_ours.spline.u.reshape(-1).tolist() + [float(row.levels[-1])]
    q_ours = lambda u: d_ours.icdf(torch.tensor(u, dtype=torch.float64)).item()
    # GluonTS's quantile takes alpha of shape (num_samples, *batch_shape)
    q_theirs = lambda u: d_theirs.quantile(
        torch.full((1, 1, 1), u, dtype=torch.float64)
    ).item()
    ratio_ours, ratio_theirs = [], []
    for yi in ys.reshape(-1).tolist():
        y1 = torch.full((1, 1), yi, dtype=torch.float64)
        pts = brk + [d_ours.cdf(y1).item()]
        ratio_ours.append(d_ours.crps(y1).item() / quad_crps(q_ours, yi, pts))
        ratio_theirs.append(d_theirs.crps(y1).item() / quad_crps(q_theirs, yi, pts))
    return {
        "ours / quad": ratio_ours,
        "GluonTS / quad": ratio_theirs,
    }


def same_seed_samples(p: Params, seed: int = 123):
    """100 samples from each head drawn from the same uniforms.

    Both heads call ``torch.rand(sample_shape + batch_shape)``; ours clamps the
    uniforms to ``[eps, 1 - eps]`` (GluonTS does not, so ``u == 0`` gives
    ``-inf``). Returns both samples and the mask of uniforms inside that range.
    """
    shape = (NUM_SAMPLES, *p.beta_l.shape)
    eps = torch.finfo(p.values.dtype).eps
    with torch.no_grad():
        torch.manual_seed(seed)
        u = torch.rand(shape, dtype=p.values.dtype)
        torch.manual_seed(seed)
        s_o = ours(p).sample((NUM_SAMPLES,))
        torch.manual_seed(seed)
        s_t = theirs(p).sample((NUM_SAMPLES,))
    return s_o, s_t, (u >= eps) & (u <= 1 - eps)


def numerics(pieces: int) -> dict[str, object]:
    """Agreement of CRPS, gradients, quantiles and samples, float64 and float32.

    The reference for the ``vs float64`` rows is our head in float64 (which
    agrees with GluonTS's in float64 to the first rows' precision).
    """
    base = make_params(pieces)
    y64 = make_targets(base)
    ref, g_ref = crps_and_grads(ours, base.to(torch.float64, grad=True), y64)
    levels = torch.linspace(0.01, 0.99, NUM_LEVELS, dtype=torch.float64)
    with torch.no_grad():
        q_ref = quantiles_ours(base, levels)
    out: dict[str, object] = {}
    for dtype in (torch.float64, torch.float32):
        name = str(dtype).replace("torch.", "")
        po, pt = base.to(dtype, grad=True), base.to(dtype, grad=True)
        y = y64.to(dtype)
        c_o, g_o = crps_and_grads(ours, po, y)
        c_t, g_t = crps_and_grads(theirs, pt, y)
        with torch.no_grad():
            q_o = quantiles_ours(po, levels.to(dtype))
            q_t = quantiles_theirs(pt, levels.to(dtype))
        s_o, s_t, inside = same_seed_samples(base.to(dtype))
        out[name] = {
            "CRPS max rel diff, ours vs GluonTS": max_rel(c_o, c_t),
            "CRPS max rel err, ours vs float64 ref": max_rel(c_o, ref),
            "CRPS max rel err, GluonTS vs float64 ref": max_rel(c_t, ref),
            "grad diff, ours vs GluonTS": grad_diff(g_o, g_t),
            "grad err, ours vs float64 ref": grad_diff(g_o, g_ref),
            "grad err, GluonTS vs float64 ref": grad_diff(g_t, g_ref),
            "quantile max abs diff, ours vs GluonTS": max_abs(q_o, q_t),
            "quantile max abs err, ours vs float64 ref": max_abs(q_o, q_ref),
            "quantile max abs err, GluonTS vs float64 ref": max_abs(q_t, q_ref),
            "sample max abs diff, same uniforms in [eps, 1-eps]": max_abs(
                s_o[inside], s_t[inside]
            ),
            "draws with uniforms outside [eps, 1-eps] (ours clamps)": float(
                (~inside).sum()
            ),
        }
    out["quadrature"] = normalisation_check(base, y64)
    return out


# ------------------------------------------------------------------ timing --


def _time_calls(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def paired_timing(fa: Callable, fb: Callable, rounds: int, budget: float = 0.25):
    """Per-call seconds of ``fa`` and ``fb``, interleaved round by round.

    Each function is warmed up (3 calls), then each round runs ``n`` calls of
    one and ``n`` of the other (order alternating), ``n`` chosen so a round
    takes about ``budget`` seconds per function. Returns two lists of times.
    """
    est = []
    for fn in (fa, fb):
        fn()
        est.append(min(_time_calls(fn, 1) for _ in range(2)))
    reps = [max(1, int(budget / e)) for e in est]
    ta: list[float] = []
    tb: list[float] = []
    for r in range(rounds):
        order = [(fa, reps[0], ta), (fb, reps[1], tb)]
        for fn, n, acc in order if r % 2 == 0 else order[::-1]:
            acc.append(_time_calls(fn, n))
    return ta, tb


class Row(NamedTuple):
    threads: int
    case: str
    op: str
    ours_ms: float
    theirs_ms: float
    ratio: float
    ratio_lo: float
    ratio_hi: float
    ratio_min: float  # ratio of the fastest rounds (least disturbed by load)
    load: float  # 1-minute load average when the operation was timed


def time_case(pieces: int, rounds: int) -> list[Row]:
    """Time the three operations for one number of pieces, in float32.

    Uses the current ``torch.get_num_threads()``.
    """
    base = make_params(pieces)
    y = make_targets(base).float()
    po, pt = base.to(torch.float32, grad=True), base.to(torch.float32, grad=True)
    pn = base.to(torch.float32)  # no gradients: inference
    levels = torch.linspace(0.01, 0.99, NUM_LEVELS)

    def no_grad(fn):
        def run():
            with torch.no_grad():
                return fn()

        return run

    ops_ = {
        "CRPS fwd+bwd": (
            lambda: crps_and_grads(ours, po, y),
            lambda: crps_and_grads(theirs, pt, y),
        ),
        f"quantile, {NUM_LEVELS} levels": (
            no_grad(lambda: quantiles_ours(pn, levels)),
            no_grad(lambda: quantiles_theirs(pn, levels)),
        ),
        f"sample {NUM_SAMPLES}": (
            no_grad(lambda: ours(pn).sample((NUM_SAMPLES,))),
            no_grad(lambda: theirs(pn).sample((NUM_SAMPLES,))),
        ),
    }
    case = f"P={pieces} ({'IQF' if pieces == 1 else 'ISQF'})"
    rows = []
    for op, (fa, fb) in ops_.items():
        ta, tb = paired_timing(fa, fb, rounds)
        per_round = [b / a for a, b in zip(ta, tb)]
        med_a, med_b = statistics.median(ta), statistics.median(tb)
        rows.append(
            Row(
                torch.get_num_threads(),
                case,
                op,
                1e3 * med_a,
                1e3 * med_b,
                med_b / med_a,
                min(per_round),
                max(per_round),
                min(tb) / min(ta),
                os.getloadavg()[0],
            )
        )
        print(
            f"  {torch.get_num_threads()} thread(s), {case}, {op}: "
            f"ours {1e3 * med_a:.1f} ms, GluonTS {1e3 * med_b:.1f} ms",
            flush=True,
        )
    return rows


# ----------------------------------------------------------------- report --


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [
                ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")
            ]
        cpu = f"{names[0]} x {len(names)} logical cores" if names else cpu
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs visible; "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"gluonts {gluonts.__version__}, {platform.system()} {platform.release()}"
    )


def timing_table(rows: list[Row]) -> str:
    head = (
        "| threads | case | operation | ours (ms) | GluonTS (ms) | GluonTS / ours "
        "| per-round range | fastest / fastest | >= 3x | load avg |\n"
        "|---:|---|---|---:|---:|---:|---:|---:|:---:|---:|\n"
    )
    body = "".join(
        f"| {r.threads} | {r.case} | {r.op} | {r.ours_ms:.2f} | {r.theirs_ms:.2f} "
        f"| {r.ratio:.1f}x | {r.ratio_lo:.1f}-{r.ratio_hi:.1f}x | {r.ratio_min:.1f}x "
        f"| {'yes' if r.ratio >= 3 else 'NO'} | {r.load:.1f} |\n"
        for r in rows
    )
    return head + body


def numerics_table(results: dict[int, dict[str, object]]) -> str:
    lines = ["| check | P | float64 | float32 |", "|---|---|---:|---:|"]
    for pieces, res in results.items():
        for key in res["float64"]:
            fmt = "{:.0f}" if key.startswith("draws") else "{:.1e}"
            cells = " | ".join(fmt.format(res[d][key]) for d in ("float64", "float32"))
            lines.append(f"| {key} | {pieces} | {cells} |")
    lines.append("")
    lines.append(
        "| CRPS / quadrature, 8 targets from left tail to right tail | P "
        "| min | max | max abs(ratio - 1) |"
    )
    lines.append("|---|---|---:|---:|---:|")
    for pieces, res in results.items():
        for key, vals in res["quadrature"].items():
            dev = max(abs(v - 1.0) for v in vals)
            lines.append(
                f"| {key} | {pieces} | {min(vals):.9f} | {max(vals):.9f} | {dev:.1e} |"
            )
    return "\n".join(lines) + "\n"


def write_docs(text: str, path: Path) -> None:
    """Replace (or append) the section ``SECTION`` of ``path``."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + ("" if nxt < 0 else old[nxt + 1 :])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="torch.set_num_threads values to time with, one after the other",
    )
    ap.add_argument("--rounds", type=int, default=9, help="interleaved timing rounds")
    ap.add_argument("--pieces", type=int, nargs="+", default=[5, 1])
    ap.add_argument(
        "--write-docs", action="store_true", help="update docs/benchmarks.md"
    )
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads[0])
    torch.manual_seed(0)
    print(f"machine: {machine()}")
    print(
        f"batch {B} x {T} targets, K = {K} knots, tol = {TOL}; load average before: "
        f"{os.getloadavg()[0]:.2f}",
        flush=True,
    )

    results = {p: numerics(p) for p in args.pieces}
    num_text = numerics_table(results)
    print("\nNumerics (max over the batch)\n" + num_text, flush=True)

    rows: list[Row] = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for p in args.pieces:
            rows += time_case(p, args.rounds)
    load = os.getloadavg()[0]
    tim_text = timing_table(rows)
    summary = verdict(rows, results)
    print(
        f"\nTimes (float32, median per call over {args.rounds} interleaved rounds; "
        f"load average after: {load:.2f})\n" + tim_text + "\n" + summary
    )
    if args.write_docs:
        text = docs_section(args, load, tim_text, num_text, summary)
        write_docs(text, ROOT / "docs" / "benchmarks.md")
        print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")


def verdict(rows: list[Row], results: dict[int, dict[str, object]]) -> str:
    """One paragraph: which targets (3x each, CRPS within 1e-5) are met."""
    missed = [
        f"{r.op} ({r.case}, {r.threads} thread(s): {r.ratio:.1f}x)"
        for r in rows
        if r.ratio < 3
    ]
    lines = [
        "Speed target (ours >= 3x faster on each operation): "
        + (
            "met in every row."
            if not missed
            else "MISSED for " + "; ".join(missed) + "."
        )
    ]
    for pieces, res in results.items():
        r64, r32 = res["float64"], res["float32"]
        key = "CRPS max rel diff, ours vs GluonTS"
        lines.append(
            f"P={pieces}: CRPS ours vs GluonTS max rel diff {r64[key]:.1e} in float64 "
            f"({'within' if r64[key] <= 1e-5 else 'NOT within'} 1e-5) and "
            f"{r32[key]:.1e} in float32 "
            f"({'within' if r32[key] <= 1e-5 else 'NOT within'} 1e-5); against the "
            "float64 reference, float32 CRPS is off by "
            f"{r32['CRPS max rel err, ours vs float64 ref']:.1e} for ours and "
            f"{r32['CRPS max rel err, GluonTS vs float64 ref']:.1e} for GluonTS."
        )
    return "\n".join(f"- {ln}" for ln in lines) + "\n"


def docs_section(args, load: float, tim_text: str, num_text: str, summary: str) -> str:
    """The ``SECTION`` of docs/benchmarks.md for this run."""
    return (
        f"{SECTION}\n\n"
        f"Command: `{COMMAND}` (from the repository root; `--threads`, `--rounds` "
        f"and `--pieces` left at their defaults: threads {args.threads}, rounds "
        f"{args.rounds}, pieces {args.pieces}). Measured {time.strftime('%Y-%m-%d')} "
        f"on: {machine()}. The machine was shared with other jobs (1-minute load "
        f"average {load:.1f} at the end, per row in the table); each round times "
        "both heads back to back, alternating which goes first, so both see the "
        "same load, but absolute times, and with 2 threads on 2 busy cores even the "
        "ratios, move with it.\n\n"
        f"Workload: {B} x {T} targets, K = {K} knot levels linspace(0.1, 0.9), "
        f"tol = {TOL}, float32, identical parameters for both heads. Each call "
        "builds the distribution from the same tensors (ours maps the logits with "
        "`spline.shares`, GluonTS inside `ISQF.__init__`). CRPS: forward and "
        "backward of the summed CRPS, gradients w.r.t. the logits, knot values and "
        f"tail rates. Quantiles: {NUM_LEVELS} levels, no gradients (GluonTS: "
        "`ISQF.quantile(alpha)` with alpha of shape (L, B, T)). Samples: "
        f"`sample(({NUM_SAMPLES},))`, no gradients. Times are medians per call; "
        "the range is over the per-round ratios; `fastest / fastest` divides "
        "GluonTS's fastest round by ours; `>= 3x` judges the median ratio. Where the speed comes from: ours "
        "finds each point's piece by a binary search (for P = 1 by counting the "
        "shared knot levels below it) and evaluates that piece only, while GluonTS "
        "evaluates every point on all K - 1 intervals x P pieces; ours gets the "
        "CRPS integrals from one running sum over the pieces and avoids "
        "`torch.softmax`, which is slow on CPU for a short last axis.\n\n"
        + tim_text
        + "\n"
        + summary
        + "\nNumerics, same parameters, max over the batch (`rel`: |a - b| / |b|; "
        "`vs float64 ref`: against our head in float64; gradient rows: largest "
        "difference over a leaf divided by that leaf's largest gradient). The "
        "quadrature rows divide each closed-form CRPS by `scipy.integrate.quad` of "
        "2 int_0^1 rho_u(y - q(u)) du: GluonTS's ISQF CRPS has the same "
        "normalisation as ours (the standard CRPS), factor 1.\n\n" + num_text
    )


if __name__ == "__main__":
    main()
