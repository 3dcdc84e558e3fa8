"""The PICNN potential: convexity, monotone gradient map, explicit derivatives vs autograd."""

from __future__ import annotations

import pytest
import torch

from gluonts_qf.nn import PICNN
from gluonts_qf.nn.init import QUAD_INIT, low_rank_init

F64 = torch.float64


def random_picnn(
    seed: int, dim=3, context_dim=4, hidden=8, layers=2, eps=1e-3, rank=0
) -> PICNN:
    """A float64 PICNN with all parameters perturbed away from the near-identity start."""
    torch.manual_seed(seed)
    net = PICNN(dim, context_dim, hidden, layers, eps, rank).to(F64)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.7 * torch.randn_like(p))
        net.out_weight_raw.add_(2.0)  # a network part that matters
    return net


def autograd_gradient(net: PICNN, x, h, create_graph=True):
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(
            net.potential(x, h).sum(), x, create_graph=create_graph
        )
    return g


NETS = [(0, 3, 1), (1, 3, 2), (2, 5, 3), (3, 1, 2)]  # seed, D, layers
# with the low-rank quadratic: seed, D, layers, rank (rank > D included)
NETS_R = [(s, d, n, 0) for s, d, n in NETS] + [
    (10, 3, 1, 1),
    (11, 3, 2, 2),
    (12, 5, 3, 4),
    (13, 1, 2, 2),
    (14, 4, 2, 6),
]


@pytest.mark.parametrize("seed,dim,layers,rank", NETS_R)
def test_convex_along_random_lines(seed, dim, layers, rank):
    net = random_picnn(seed, dim=dim, layers=layers, rank=rank)
    g = torch.Generator().manual_seed(seed)
    h = 2 * torch.randn(16, 4, generator=g, dtype=F64)
    x0 = 3 * torch.randn(16, dim, generator=g, dtype=F64)
    d = torch.randn(16, dim, generator=g, dtype=F64)
    t = torch.linspace(-6, 6, 241, dtype=F64).reshape(-1, 1, 1)
    with torch.no_grad():
        phi = net.potential(x0 + t * d, h)  # (241, 16)
    second = phi[2:] - 2 * phi[1:-1] + phi[:-2]
    step2 = (t[1, 0, 0] - t[0, 0, 0]) ** 2 * (d * d).sum(-1)
    # strictly convex: second differences at least eps * step^2 (minus rounding)
    assert (second >= net.eps * step2 * (1 - 1e-6) - 1e-9).all()


@pytest.mark.parametrize("seed,dim,layers,rank", NETS_R)
def test_gradient_map_is_monotone(seed, dim, layers, rank):
    """<Q(x) - Q(x'), x - x'> >= eps ||x - x'||^2 on many random pairs and contexts."""
    net = random_picnn(seed, dim=dim, layers=layers, rank=rank)
    g = torch.Generator().manual_seed(100 + seed)
    h = 2 * torch.randn(2000, 4, generator=g, dtype=F64)
    x, x2 = (2 * torch.randn(2000, dim, generator=g, dtype=F64) for _ in range(2))
    with torch.no_grad():
        inner = ((net.gradient(x, h) - net.gradient(x2, h)) * (x - x2)).sum(-1)
    assert (inner >= net.eps * ((x - x2) ** 2).sum(-1) * (1 - 1e-9)).all()


@pytest.mark.parametrize("seed,dim,layers,rank", NETS_R)
def test_gradient_and_hessian_equal_autograd(seed, dim, layers, rank):
    net = random_picnn(seed, dim=dim, layers=layers, rank=rank)
    x = 2 * torch.randn(5, 3, dim, dtype=F64)
    h = torch.randn(3, 4, dtype=F64)
    want = autograd_gradient(net, x, h)
    torch.testing.assert_close(net.gradient(x, h), want, rtol=1e-10, atol=1e-12)
    hess = net.hessian(x, h)
    for i in range(5):
        for b in range(3):
            ref = torch.autograd.functional.hessian(
                lambda v, b=b: net.potential(v, h[b]), x[i, b]
            )
            torch.testing.assert_close(hess[i, b], ref, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(hess, hess.transpose(-1, -2))
    assert (torch.linalg.eigvalsh(hess) >= net.eps * (1 - 1e-9)).all()
    torch.testing.assert_close(net.hessian_logdet(x, h), torch.linalg.slogdet(hess)[1])


@pytest.mark.parametrize("rank", [0, 3])
def test_gradient_equals_finite_differences(rank):
    net = random_picnn(4, dim=4, layers=3, rank=rank)
    x, h = torch.randn(6, 4, dtype=F64), torch.randn(6, 4, dtype=F64)
    step = 1e-6
    with torch.no_grad():
        fd = torch.stack(
            [
                (net.potential(x + step * e, h) - net.potential(x - step * e, h))
                / (2 * step)
                for e in torch.eye(4, dtype=F64)
            ],
            -1,
        )
        torch.testing.assert_close(net.gradient(x, h), fd, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("rank", [0, 2])
def test_parameter_gradients_of_the_map_equal_double_backward(rank):
    """Training graph: d/dtheta <Q(x; h), r> via the explicit map == autograd double backward."""
    net = random_picnn(5, dim=3, layers=3, rank=rank)
    x, r = torch.randn(7, 3, dtype=F64), torch.randn(7, 3, dtype=F64)
    h = torch.randn(7, 4, dtype=F64, requires_grad=True)
    params = [*net.parameters(), h]
    mine = torch.autograd.grad((net.gradient(x, h) * r).sum(), params)
    ref = torch.autograd.grad((autograd_gradient(net, x, h) * r).sum(), params)
    for a, b in zip(mine, ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_graph_rule_and_no_grad():
    net = random_picnn(6)
    x, h = torch.randn(4, 3, dtype=F64), torch.randn(4, 4, dtype=F64)
    with torch.no_grad():
        g0 = net.gradient(x, h)
        assert not g0.requires_grad
        assert not net.hessian(x, h).requires_grad
        assert net.gradient(x, h, create_graph=True).requires_grad  # explicit request
    assert net.gradient(x, h).requires_grad  # default follows grad mode
    g1 = net.gradient(x, h, create_graph=False)
    assert not g1.requires_grad
    torch.testing.assert_close(g0, g1)
    net.eval()  # the module mode does not change the rule
    assert net.gradient(x, h).requires_grad


@pytest.mark.parametrize("rank", [0, 2])
@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
@pytest.mark.parametrize("sample", [(), (5,), (2, 5)])
def test_shapes(batch, sample, rank):
    net = random_picnn(7, dim=3, context_dim=4, rank=rank)
    h = torch.randn(*batch, 4, dtype=F64)
    x = torch.randn(*sample, *batch, 3, dtype=F64)
    out = (*sample, *batch)
    assert net.potential(x, h).shape == out
    assert net.gradient(x, h).shape == (*out, 3)
    assert net.hessian(x, h).shape == (*out, 3, 3)
    assert net.hessian_logdet(x, h).shape == out
    assert net.inverse(net.gradient(x, h), h).shape == (*out, 3)
    assert net(x, h).shape == out


@pytest.mark.parametrize("seed,dim,layers,rank", NETS_R)
def test_inverse_recovers_x(seed, dim, layers, rank):
    net = random_picnn(seed, dim=dim, layers=layers, rank=rank)
    x = 3 * torch.randn(200, dim, dtype=F64)
    h = 2 * torch.randn(200, 4, dtype=F64)
    y = net.gradient(x, h).detach()
    x_hat = net.inverse(y, h)
    assert not x_hat.requires_grad
    torch.testing.assert_close(x_hat, x, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("rank", [0, 3])
def test_inverse_float32(rank):
    net = random_picnn(8, dim=4, rank=rank).float()
    x, h = torch.randn(100, 4), torch.randn(100, 4)
    with torch.no_grad():
        y = net.gradient(x, h)
    torch.testing.assert_close(net.inverse(y, h), x, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dim,rank", [(6, 0), (4, 4)])
def test_starts_near_identity_map(dim, rank):
    """Without the low-rank term, or with ``D <= r``; with ``D > r`` the start is a
    smooth correlated map (test_low_rank_start_is_a_smooth_dependent_map...)."""
    torch.manual_seed(0)
    net = PICNN(dim=dim, context_dim=5, hidden_size=16, num_layers=3, rank=rank)
    x, h = torch.randn(500, dim), torch.randn(500, 5)
    with torch.no_grad():
        q = net.gradient(x, h)
    assert (q - x).abs().mean() < 0.2
    assert torch.corrcoef(torch.stack([q[:, 0], x[:, 0]]))[0, 1] > 0.95


def test_low_rank_term_alone_is_an_exact_correlated_gaussian():
    """Only ``0.5 x^T A x`` with ``A = eps I + U U^T`` (U from the context):
    the map is ``x -> A x``, so ``y = A x ~ N(0, A^2)``; Hessian A, inverse A^-1 y."""
    dim, rank, eps = 3, 2, 1e-3
    net = PICNN(dim, 2, 4, 2, eps, rank).to(F64)
    g = torch.Generator().manual_seed(0)
    u = torch.randn(dim, rank, generator=g, dtype=F64)
    with torch.no_grad():
        net.out_weight_raw.fill_(-1e3)  # softplus(-1000) == 0: no network part
        net.out_head.weight.zero_()
        net.out_head.bias[4 : 4 + dim].zero_()  # no linear term
        net.out_head.bias[4 + dim :].fill_(-1e3)  # diagonal quad == eps exactly
        net.low_rank_head.weight.zero_()
        net.low_rank_head.bias.copy_(u.flatten())
    a = eps * torch.eye(dim, dtype=F64) + u @ u.T
    h = torch.randn(5, 2, generator=g, dtype=F64)
    x = torch.randn(4000, 5, dim, generator=g, dtype=F64)
    with torch.no_grad():
        y = net.gradient(x, h)
        torch.testing.assert_close(y, x @ a)  # A symmetric
        torch.testing.assert_close(net.potential(x, h), 0.5 * ((x @ a) * x).sum(-1))
        torch.testing.assert_close(net.hessian(x[:3], h), a.expand(3, 5, dim, dim))
        torch.testing.assert_close(
            net.hessian_logdet(x[:3], h),
            torch.linalg.slogdet(a)[1].expand(3, 5),
        )
        torch.testing.assert_close(net.inverse(y[:50], h), x[:50])
    # the samples are N(0, A^2): check the empirical covariance
    flat = y.reshape(-1, dim)
    cov = flat.T @ flat / flat.shape[0]
    torch.testing.assert_close(cov, a @ a, rtol=0.05, atol=0.05 * (a @ a).abs().max())


def test_bad_shapes():
    net = PICNN(3, 4)
    with pytest.raises(ValueError, match="last dimension D=3"):
        net.gradient(torch.randn(5, 2), torch.randn(5, 4))
    with pytest.raises(ValueError, match="context_dim=4"):
        net.gradient(torch.randn(5, 3), torch.randn(5, 2))


def _start_map_stats(dim: int, rank: int, smooth: bool = True) -> tuple[float, float]:
    """Mean variance and mean neighbouring-coordinate correlation of the untrained map."""
    torch.manual_seed(0)
    net = PICNN(dim, 4, 16, 2, 1e-3, rank, smooth_start=smooth)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20000, dim, generator=g)
    with torch.no_grad():
        y = net.gradient(x, 0.1 * torch.randn(1, 4, generator=g))
    c = torch.corrcoef(y.T)
    return float(y.var(0).mean()), float(c.diagonal(1).mean())


@pytest.mark.parametrize("dim", [8, 24, 48])
def test_low_rank_start_is_a_smooth_dependent_map_of_unit_variance(dim):
    """With the low-rank term the untrained map is ``(q I + U U^T) x`` with a smooth
    ``U`` (``low_rank_init``): unit variance on average whatever D, neighbouring
    coordinates clearly correlated. The former start (``U`` ~ N(0, 0.1 / r), q = 1)
    had neighbour correlation ~0 and learned AR(1) dependence far too slowly."""
    var, corr = _start_map_stats(dim, rank=4)
    assert 0.7 < var < 1.4, var
    assert corr > 0.4, corr
    var0, corr0 = _start_map_stats(dim, rank=0)  # without it: near the identity
    assert 0.7 < var0 < 1.4 and abs(corr0) < 0.1, (var0, corr0)


@pytest.mark.parametrize("dim", [24, 96])
def test_unordered_start_is_about_independent(dim):
    """``smooth_start=False`` (MQF2 joint across series, whose coordinates are
    flattened as (step, series), so neighbours are different series at one step):
    the untrained map is about the identity, no dependence between series is
    assumed before training. The smooth start would correlate those neighbours."""
    var, corr = _start_map_stats(dim, rank=4, smooth=False)
    assert 0.7 < var < 1.4 and abs(corr) < 0.1, (var, corr)
    assert _start_map_stats(dim, rank=4, smooth=True)[1] > 0.4


def test_low_rank_init_is_smooth_and_the_identity_without_room():
    """``D > r``: ``U = a B``, B the first DCT vectors (a constant first column,
    close neighbouring rows), unit variance; ``D <= r``: ``B B^T = I``, so
    ``q I + U U^T = I``."""
    u, quad = low_rank_init(24, 4)
    assert quad == QUAD_INIT and u.shape == (24, 4)
    assert torch.allclose(u[:, 0], u[0, 0].expand(24))
    assert float((u[1:] - u[:-1]).abs().max()) < 0.5 * float(u.abs().max())
    s = quad * torch.eye(24) + u @ u.T
    assert abs(float((s @ s).diagonal().mean()) - 1.0) < 1e-5
    for dim in (3, 4):
        u, quad = low_rank_init(dim, 4)
        torch.testing.assert_close(quad * torch.eye(dim) + u @ u.T, torch.eye(dim))
