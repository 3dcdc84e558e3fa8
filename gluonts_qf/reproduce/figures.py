"""The ``figures`` experiment: the two illustrations behind the papers' ideas.

``gluonts-qf reproduce --experiment figures`` draws

- ``iqf_knots.png``: a known three-peaked distribution (a Gaussian mixture)
  learned by an IQF head (Park et al., 2022) with 5 and with 20 knots: its
  parameters are fitted directly, by minimising the closed-form CRPS on
  samples; true vs learned quantile function and density;
- ``mqf2_map.png``: a 2-D convex potential (the PICNN of an MQF2 head, Kan et
  al., 2022, trained by maximum likelihood on a correlated 2-D Gaussian) and
  its gradient map pushing a uniform grid of the reference space onto the
  target.

and a table (``figures.csv``/``.md``): per IQF fit, the Wasserstein-1 distance
``int_0^1 |q(u) - q*(u)| du`` to the true quantile function and the CRPS on
held-out samples; for the 2-D map, the correlation of its samples beside the
target's. Nothing is cached: the whole experiment takes seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..distributions import spline as ops
from ..distributions.iqf import IQF
from ..nn.init import inv_softplus


@dataclass(frozen=True)
class Mixture:
    """A 1-D Gaussian mixture: the known three-peaked target of the IQF figure."""

    weights: tuple[float, ...] = (0.3, 0.4, 0.3)
    means: tuple[float, ...] = (-4.0, 0.0, 4.0)
    stds: tuple[float, ...] = (0.7, 0.8, 0.7)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws, shape: (n,)."""
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        return rng.normal(np.take(self.means, comp), np.take(self.stds, comp))

    def density(self, y: np.ndarray) -> np.ndarray:
        """The density at ``y`` (any shape)."""
        y = np.asarray(y, dtype=float)[..., None]
        z = (y - np.array(self.means)) / np.array(self.stds)
        pdf = np.exp(-0.5 * z**2) / (np.sqrt(2 * np.pi) * np.array(self.stds))
        return (pdf * np.array(self.weights)).sum(-1)

    def cdf(self, y: np.ndarray) -> np.ndarray:
        from scipy.special import ndtr

        y = np.asarray(y, dtype=float)[..., None]
        z = (y - np.array(self.means)) / np.array(self.stds)
        return (ndtr(z) * np.array(self.weights)).sum(-1)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        """The true quantile function at levels ``u`` in (0, 1), by bisection."""
        u = np.asarray(u, dtype=float)
        lo = np.full_like(u, min(self.means) - 12 * max(self.stds))
        hi = np.full_like(u, max(self.means) + 12 * max(self.stds))
        for _ in range(80):  # interval / 2^80: exact to rounding
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid) < u
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return 0.5 * (lo + hi)


def even_levels(num_knots: int) -> np.ndarray:
    """``k / (K + 1)``, ``k = 1..K``: knots evenly spaced in level."""
    return np.arange(1, num_knots + 1) / (num_knots + 1)


def fit_iqf(
    samples: np.ndarray, num_knots: int, steps: int = 400, lr: float = 0.05
) -> IQF:
    """An IQF (one piece per interval) fitted to ``samples`` by its closed-form CRPS.

    The raw parameters (first knot, softplus increments, softplus tail rates;
    float64) start from a flat guess (knots evenly spread over the samples'
    mean +- 2 standard deviations) and follow Adam on the mean CRPS of all
    samples.
    """
    y = torch.as_tensor(samples, dtype=torch.float64)
    tol = 1e-4
    levels = torch.as_tensor(even_levels(num_knots), dtype=torch.float64)
    step = 4 * y.std() / max(num_knots - 1, 1)
    raw = torch.full((num_knots,), inv_softplus(float(step)), dtype=torch.float64)
    raw[0] = y.mean() - 2 * y.std()
    raw = raw.requires_grad_(True)
    tails = torch.zeros(2, dtype=torch.float64, requires_grad=True)

    def build() -> IQF:
        tail = ops.increments(tails, tol)
        return IQF(levels, ops.knot_values(raw, tol), tail[0], tail[1])

    opt = torch.optim.Adam([raw, tails], lr=lr)
    for _ in range(steps):
        loss = build().crps(y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return build()


def wasserstein1(iqf: IQF, truth: Mixture, grid: int = 2000) -> float:
    """``int_0^1 |q(u) - q*(u)| du`` by the midpoint rule on ``grid`` levels."""
    u = (np.arange(grid) + 0.5) / grid
    with torch.no_grad():
        q = iqf.icdf(torch.as_tensor(u)).numpy()
    return float(np.mean(np.abs(q - truth.quantile(u))))


def fit_gaussian(
    out: Any,
    cov: torch.Tensor,
    steps: int,
    batch: int = 64,
    lr: float = 2e-2,
    seed: int = 0,
) -> tuple[Any, Any]:
    """Train an MQF2 head alone (constant context) on draws of ``N(0, cov)``.

    ``out`` is an :class:`~gluonts_qf.MQF2Output` with ``dim == len(cov)``;
    its objective is the loss. Adam with a cosine schedule, ``batch`` fresh
    draws per step, ``torch.manual_seed(seed)`` first (so the head's start is
    seeded too). Returns ``(distribution, head)``: the fitted
    :class:`~gluonts_qf.MQF2` (batch shape (1,)) and the head.
    """
    torch.manual_seed(seed)
    chol = torch.linalg.cholesky(cov)
    head = out.get_args_proj(1)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    features = torch.ones(batch, 1)
    for _ in range(steps):
        y = torch.randn(batch, len(cov)) @ chol.T
        loss = out.loss(y, head(features), picnn=head.picnn).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return out.distribution(head(torch.ones(1, 1)), picnn=head.picnn), head


def fit_2d_map(correlation: float, steps: int, seed: int = 0) -> tuple[Any, Any]:
    """An MQF2 head fitted by likelihood to a 2-D Gaussian (unit variances,
    the given correlation): :func:`fit_gaussian` with batches of 128."""
    from ..distributions.mqf2 import MQF2Output

    cov = torch.tensor([[1.0, correlation], [correlation, 1.0]])
    out = MQF2Output(dim=2, hidden_size=16, rank=2, objective="likelihood")
    return fit_gaussian(out, cov, steps, batch=128, seed=seed)


@dataclass(frozen=True)
class FigureSettings:
    """Budgets of the ``figures`` experiment (the smoke ones are smaller)."""

    num_samples: int = 4000
    iqf_steps: int = 600
    map_steps: int = 300
    correlation: float = 0.8

    @classmethod
    def smoke(cls) -> FigureSettings:
        return cls(num_samples=2000, iqf_steps=400, map_steps=100)


def iqf_knot_rows(
    settings: FigureSettings, folder: Path | None, seed: int = 0
) -> tuple[list[tuple[str, dict[str, float]]], dict[int, IQF], list[Path]]:
    """Fit 5 and 20 knots; rows ``iqf_<K>_knots``: ``W1`` and held-out ``CRPS``."""
    truth, rng = Mixture(), np.random.default_rng(seed)
    train, held_out = (truth.sample(settings.num_samples, rng) for _ in range(2))
    fits, rows = {}, []
    for k in (5, 20):
        fits[k] = iqf = fit_iqf(train, k, settings.iqf_steps)
        with torch.no_grad():
            crps = float(iqf.crps(torch.as_tensor(held_out)).mean())
        rows.append((f"iqf_{k}_knots", {"W1": wasserstein1(iqf, truth), "CRPS": crps}))
    files = []
    if folder is not None:
        files.append(plot_knots(truth, fits, train, folder / "iqf_knots.png"))
    return rows, fits, files


def map_rows(
    settings: FigureSettings, folder: Path | None, seed: int = 0
) -> tuple[list[tuple[str, dict[str, float]]], Any, list[Path]]:
    """Fit the 2-D map; row ``mqf2_2d_map``: its correlation and the target's."""
    distr, _ = fit_2d_map(settings.correlation, settings.map_steps, seed)
    with torch.no_grad():
        s = distr.sample((settings.num_samples,))[:, 0].numpy()
    corr = float(np.corrcoef(s.T)[0, 1])
    row = {"correlation": corr, "target_correlation": settings.correlation}
    files = []
    if folder is not None:
        rho = settings.correlation
        chol = np.linalg.cholesky(np.array([[1.0, rho], [rho, 1.0]]))
        rng = np.random.default_rng(seed)
        target = rng.standard_normal((2000, 2)) @ chol.T
        files.append(plot_gradient_map(distr, target, folder / "mqf2_map.png"))
    return [("mqf2_2d_map", row)], distr, files


# -- the two figures -------------------------------------------------------
def plot_knots(
    truth: Mixture, fits: dict[int, IQF], samples: np.ndarray, path: Path
) -> Path:
    """True vs learned quantile function (left) and density (right), per knot count."""
    from ..plotting import new_figure, save_figure

    fig = new_figure(10, 3.8)
    ax_q, ax_d = fig.subplots(1, 2)
    u = np.linspace(0.002, 0.998, 999)
    y = np.linspace(samples.min() - 1, samples.max() + 1, 800)
    ax_q.plot(u, truth.quantile(u), color="black", lw=2, label="true")
    ax_d.hist(samples, bins=80, density=True, color="0.85", label="samples")
    ax_d.plot(y, truth.density(y), color="black", lw=2, label="true")
    for (k, iqf), color in zip(sorted(fits.items()), ("tab:blue", "tab:orange")):
        with torch.no_grad():
            q = iqf.icdf(torch.as_tensor(u)).numpy()
            dens = iqf.log_prob(torch.as_tensor(y)).exp().numpy()
        ax_q.plot(u, q, color=color, lw=1.2, label=f"IQF, {k} knots")
        ax_q.plot(iqf.knot_levels.numpy(), iqf.knot_values.numpy(), "o", color=color)
        ax_d.plot(y, dens, color=color, lw=1.2, label=f"IQF, {k} knots")
    ax_q.set(xlabel="level u", ylabel="q(u)", title="quantile function")
    ax_d.set(xlabel="y", ylabel="density", title="density")
    ax_q.legend(fontsize=8)
    ax_d.legend(fontsize=8)
    fig.suptitle("a three-peaked distribution learned by IQF (CRPS fit)", fontsize=10)
    return save_figure(fig, path)


def plot_gradient_map(distr: Any, samples: np.ndarray, path: Path, n: int = 9) -> Path:
    """The potential over the reference grid (left) and its image (right).

    Left: contours of ``phi(x)`` and a uniform grid of levels ``u`` in
    ``[0.05, 0.95]^2`` drawn at ``x = Phi^{-1}(u)``. Right: the same grid
    lines pushed through ``grad phi`` (the MQF2 quantile map) over
    ``samples`` of the target, shape: (n, 2).
    """
    from ..plotting import new_figure, save_figure

    fig = new_figure(10, 4.6)
    ax_x, ax_y = fig.subplots(1, 2)
    levels = torch.linspace(0.05, 0.95, n, dtype=torch.float32)
    dense = torch.linspace(0.02, 0.98, 60, dtype=torch.float32)
    # grid lines: u_1 fixed (n, 60, 2) and u_2 fixed (n, 60, 2)
    fixed_1 = torch.stack(torch.broadcast_tensors(levels[:, None], dense[None]), -1)
    fixed_2 = fixed_1.flip(-1)
    axis = torch.linspace(-2.5, 2.5, 101)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1)  # (101, 101, 2)
    with torch.no_grad():
        phi = distr.picnn.potential(grid, distr.context).numpy()
        ax_x.contour(axis, axis, phi, levels=15, colors="0.6", linewidths=0.7)
        ax_y.scatter(*samples.T, s=2, color="0.75", label="target samples")
        for lines, color in ((fixed_1, "tab:blue"), (fixed_2, "tab:red")):
            x = torch.special.ndtri(lines).numpy()
            mapped = distr.quantile_map(lines).numpy()
            for i in range(n):
                ax_x.plot(*x[i].T, color=color, lw=1)
                ax_y.plot(*mapped[i].T, color=color, lw=1)
    ax_x.set(title="potential phi and the grid x = Phi^-1(u)", aspect="equal")
    ax_y.set(title="grad phi pushes the grid onto the target", aspect="equal")
    ax_y.legend(fontsize=8, loc="upper left")
    fig.suptitle("MQF2: the gradient of a convex potential as a 2-D quantile map")
    return save_figure(fig, path)


#: The table's columns.
COLUMNS = ("W1", "CRPS", "correlation", "target_correlation", "seconds")


def run_figures(
    out: Path, smoke: bool = False, figures: bool = True, log=print
) -> tuple[list[tuple[str, dict[str, float]]], list[Path]]:
    """Fit both illustrations, write ``figures.csv``/``.md`` and the PNGs under ``out``.

    Returns the table rows and the files written; ``log`` gets one line per row.
    """
    from ..evaluation.tables import format_markdown, write_csv

    settings = FigureSettings.smoke() if smoke else FigureSettings()
    folder = out / "figures" if figures else None
    out.mkdir(parents=True, exist_ok=True)
    rows, files = [], []
    for make in (iqf_knot_rows, map_rows):
        start = time.perf_counter()
        new, _, drawn = make(settings, folder)
        seconds = (time.perf_counter() - start) / len(new)
        for label, metrics in new:
            rows.append((label, {**metrics, "seconds": seconds}))
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            log(f"[{len(rows)}] figures {label:<14} {seconds:6.1f}s  {shown}")
        files += drawn
    files.insert(0, write_csv(rows, out / "figures.csv", COLUMNS))
    (out / "figures.md").write_text(format_markdown(rows, COLUMNS) + "\n")
    files.insert(1, out / "figures.md")
    return rows, files
