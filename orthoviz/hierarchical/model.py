"""Networks and kernels for ``h = g(p)`` (Wang, Nichani, Lee, ICLR 2024, eq. (1)).

Three-layer network with a width-1 bottleneck and a skip connection (spec §2.2):

    f(x)   = sum_{j=1}^{m1} u_j sigma1(<v_j, x> + s_j)                 (the learned feature)
    out(x) = f(x) + scale * sum_{i=1}^{m2} c_i relu(a_i (f(x) - mu)/tau + b_i) + c_0

``(mu, tau)`` standardise the feature in layerwise training (pitfall §7.8; fixed to (0, 1)
in joint training); ``scale`` is 1 for the ridge readout and ``1/sqrt(m2)`` for Adam.
The baselines: a two-layer ReLU network and the NTK of one with biases (a rotation-
invariant kernel that contains every Hermite degree).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from orthoviz.hierarchical.hermite import hermite_coeffs, polyval


def sigma1_coeffs(kind: str, k: int) -> np.ndarray:
    """Monomial coefficients of sigma1: ``h_k`` ("hermite") or ``z^k`` ("monomial")."""
    if kind == "hermite":
        return hermite_coeffs(k)
    c = np.zeros(k + 1)
    c[k] = 1.0
    return c


class ThreeLayer(nn.Module):
    """The bottleneck network; parameters follow the paper's (V, s, u, a, b, c).

    Parameters
    ----------
    d, m1, m2 : int
        Input dimension, first- and second-layer widths.
    sigma1 : ndarray
        Monomial coefficients of the polynomial activation of the first layer.
    generator : torch.Generator
        Draws the random initialisation (explicit; no global RNG).
    init : {"layerwise", "joint"}
        layerwise (spec §2.3): ``v_j`` uniform on the sphere, ``s = 0``, ``u = 0``,
        ``a = +-1``, ``b ~ t_{bias_df}``, ``c = 0``. joint (Preset B, µP-like):
        ``V ~ N(0, I/d)``, ``s = 0``, ``u ~ N(0, 1)/m1``, ``a, b ~ N(0, 1)``, ``c = 0``.
    """

    def __init__(self, d: int, m1: int, m2: int, sigma1: np.ndarray, generator,
                 init: str = "layerwise", bias_df: float = 5.0, device="cpu",
                 dtype=torch.float32):
        super().__init__()
        kw = dict(generator=generator, dtype=dtype)  # CPU draws: CPU and CUDA runs agree
        V = torch.randn(m1, d, **kw)
        if init == "layerwise":
            V = V / V.norm(dim=1, keepdim=True)
            u = torch.zeros(m1, dtype=dtype)
            a = torch.where(torch.rand(m2, **kw) < 0.5, -1.0, 1.0).to(dtype)
            # Student-t: N(0,1) / sqrt(chi2_df / df), chi2 from a sum of squares when the
            # df is an integer (torch's gamma sampler takes no generator)
            chi = (torch.randn(m2, int(round(bias_df)), **kw) ** 2).sum(1)
            b = torch.randn(m2, **kw) / torch.sqrt(chi / round(bias_df))
            self.scale = 1.0
        else:
            V = V / math.sqrt(d)
            u = torch.randn(m1, **kw) / m1
            a, b = torch.randn(m2, **kw), torch.randn(m2, **kw)
            self.scale = 1.0 / math.sqrt(m2)
        self.V = nn.Parameter(V.to(device))
        self.s = nn.Parameter(torch.zeros(m1, device=device, dtype=dtype))
        self.u = nn.Parameter(u.to(device))
        self.a, self.b = nn.Parameter(a.to(device)), nn.Parameter(b.to(device))
        self.c = nn.Parameter(torch.zeros(m2, device=device, dtype=dtype))
        self.c0 = nn.Parameter(torch.zeros((), device=device, dtype=dtype))
        self.register_buffer("mu", torch.zeros((), device=device, dtype=dtype))
        self.register_buffer("tau", torch.ones((), device=device, dtype=dtype))
        self.sigma1 = np.asarray(sigma1, dtype=float)

    def units(self, X: torch.Tensor) -> torch.Tensor:
        """First-layer activations ``sigma1(X V^T + s)``, (n, m1)."""
        return polyval(self.sigma1, X @ self.V.T + self.s)

    def feature(self, X: torch.Tensor) -> torch.Tensor:
        """The bottleneck ``f(x)``, (n,)."""
        return self.units(X) @ self.u

    def link(self, f: torch.Tensor) -> torch.Tensor:
        """The output as a function of the bottleneck value: ``out = link(f(x))``."""
        z = (f - self.mu) / self.tau
        hidden = torch.relu(z[:, None] * self.a + self.b)  # (n, m2)
        return f + self.scale * hidden @ self.c + self.c0

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.link(self.feature(X))


class TwoLayer(nn.Module):
    """``(1/sqrt m) sum_j a_j relu(<w_j, x> + b_j) + a_0``; ``w ~ N(0, I/d)``, ``b = 0``,
    ``a ~ N(0, 1/m)`` (spec §3.3, two-layer baseline; the 1/sqrt(m) is folded into a)."""

    def __init__(self, d: int, m: int, generator, device="cpu", dtype=torch.float32):
        super().__init__()
        kw = dict(generator=generator, dtype=dtype)  # CPU draws: CPU and CUDA runs agree
        self.W = nn.Parameter((torch.randn(m, d, **kw) / math.sqrt(d)).to(device))
        self.b = nn.Parameter(torch.zeros(m, device=device, dtype=dtype))
        self.a = nn.Parameter((torch.randn(m, **kw) / math.sqrt(m)).to(device))
        self.a0 = nn.Parameter(torch.zeros((), device=device, dtype=dtype))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.relu(X @ self.W.T + self.b) @ self.a + self.a0


def ntk_relu(X: torch.Tensor, Y: torch.Tensor, rows: int = 256) -> torch.Tensor:
    """NTK of ``x -> sum_j a_j relu(<w_j, x>/sqrt(d) + b_j)`` with ``w, b, a`` standard
    normal (all trained), in the infinite-width limit:

        S = <x, y>/d + 1,  N = sqrt(S_xx S_yy),  t = arccos(S / N)
        K = [N (sin t + (pi - t) cos t) + S (pi - t)] / (2 pi)      (arc-cosine 1 + S arc-cosine 0)
          = [sqrt(N^2 - S^2) + 2 S (pi - t)] / (2 pi)               (N cos t = S)

    Rotation-invariant in x. The bias makes every Hermite degree appear (without it
    ReLU kernels miss the odd degrees >= 3). X (n, d), Y (m, d) -> (n, m), X's dtype;
    computed ``rows`` rows at a time with in-place operations (temporaries stay in
    cache: this is memory-bound, not flop-bound).
    """
    d = X.shape[1]
    sx = (X * X).sum(1) / d + 1.0
    sy = (Y * Y).sum(1) / d + 1.0
    out = torch.empty(X.shape[0], Y.shape[0], dtype=X.dtype, device=X.device)
    for i in range(0, X.shape[0], rows):
        S = out[i: i + rows]
        torch.matmul(X[i: i + rows], Y.T, out=S)
        S.div_(d).add_(1.0)
        N2 = sx[i: i + rows, None] * sy[None, :]
        t = torch.rsqrt(N2).mul_(S).clamp_(-1.0, 1.0).arccos_()  # t
        t.neg_().add_(math.pi).mul_(S).mul_(2.0)  # 2 S (pi - t)
        N2.addcmul_(S, S, value=-1.0).clamp_min_(0.0).sqrt_()  # N sin t
        S.copy_(N2.add_(t)).div_(2 * math.pi)
    return out


def ridge_solve(Phi: torch.Tensor, y: torch.Tensor, ridge: float) -> torch.Tensor:
    """``argmin_w (1/n) ||Phi w - y||^2 + ridge ||w||^2`` (closed form, Cholesky; the
    smaller of the primal m x m and dual n x n systems). Phi (n, m), y (n,) -> (m,)."""
    n, m = Phi.shape
    if n >= m:
        A = Phi.T @ Phi
        A.diagonal().add_(n * ridge)
        return torch.cholesky_solve((Phi.T @ y)[:, None], _cholesky(A))[:, 0]
    A = Phi @ Phi.T
    A.diagonal().add_(n * ridge)
    return Phi.T @ torch.cholesky_solve(y[:, None], _cholesky(A))[:, 0]


def _cholesky(A: torch.Tensor) -> torch.Tensor:
    """Cholesky factor, adding jitter (1e-12 to 1e-6 of the mean diagonal) only if the
    factorisation fails in floating point."""
    L, info = torch.linalg.cholesky_ex(A)
    jitter = 1e-12 * float(A.diagonal().mean())
    while int(info) != 0 and jitter < 1e-5 * float(A.diagonal().mean()):
        B = A.clone()
        B.diagonal().add_(jitter)
        L, info = torch.linalg.cholesky_ex(B)
        jitter *= 10
    if int(info) != 0:
        raise torch.linalg.LinAlgError("ridge system is not positive definite; raise the ridge")
    return L
