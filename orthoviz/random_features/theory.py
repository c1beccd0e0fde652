"""Float64 eigenframework for random-feature ridge regression (spec §2.2-2.3).

Simon, Karkada, Ghosh, Belkin, "More is Better", ICLR 2024 (arXiv 2311.14646).
Notation (the authors'): ``n`` samples, ``k`` features (``inf`` = kernel ridge
regression), ridge ``delta`` added to the *unnormalised* Gram matrix ``K + delta I``,
``lambda_i`` kernel eigenvalues, ``v_i`` target coefficients, ``sigma^2`` noise.

With ``z(g) = sum_i L_i``, ``q(g) = sum_i L_i^2``, ``L_i = lambda_i / (lambda_i + g)``,
the effective ridge ``gamma`` is the unique root of the single monotone equation

    Psi(gamma) = gamma (1 - z/k) (n - z) = delta          on (gamma_0, inf),

where ``z(gamma_0) = min(n, k)`` is the ridgeless bracket end. Then
``kappa = gamma (1 - z/k)``,
``E_te = E_rf [sum_i b_i v_i^2 + sigma^2]``, ``E_tr = (1 - z/n)^2 E_te`` with
``1/E_rf = [(n - z) + (z - q)(k - z)/(k - q)] / n`` (a sum of non-negative terms, so the
k = n spike is an exact zero, not a cancellation) and
``sum_i b_i v_i^2 = sum_i v_i^2 (1-L_i)^2 + (z - q)/(k - q) sum_i v_i^2 L_i (1-L_i)``.

Everything past the root depends on ``gamma`` only through four sums, so large grids use
a cubic-Hermite table of the sums in ``u = log gamma`` (exact derivatives; relative
error ~1e-9), and small problems evaluate them exactly.
"""

from __future__ import annotations

import numpy as np

from orthoviz.random_features.data import Spectrum, make_spectrum

_H = 0.1  # table spacing in log(gamma); measured Hermite error ~3e-8 relative
_CHUNK = 2**21  # elements per (points x levels) block, bounds temporary memory


# -- the four gamma-dependent sums -------------------------------------------------------
class _Sums:
    """``z, q, S1 = sum w G^2, S2 = sum w L G`` (``G = 1 - L``, ``w = m v^2``) at
    ``gamma``, exactly (chunked) or from a Hermite table over ``log gamma``."""

    def __init__(self, spec: Spectrum):
        self.spec = spec
        lam, m = spec.eigenvalues, spec.multiplicity
        w = m * spec.target_coeffs_sq
        # vectors multiplied by powers of 1/(lambda + gamma); 1-D so numpy uses gemv,
        # which stays fast on a loaded machine where small threaded gemms stall
        self.c1 = m * lam  # -> z
        self.c2 = (m * lam**2, w, w * lam)  # -> q, S1/gamma^2, S2/gamma
        self.c3 = (m * lam**3, w * lam, w * lam**2)  # -> c3, e1/gamma^2, e2/gamma
        self.table = None
        self.g0_cache: dict[float, float] = {}  # ridgeless gamma_0 per min(n, k)

    def exact(self, gamma: np.ndarray, rows: int = 4, derivs: bool = False) -> np.ndarray:
        """The first ``rows`` of (z, q, S1, S2) at each gamma, shape (rows, G); with
        ``derivs`` all seven rows (z, q, S1, S2, c3 = sum m L^3, e1 = sum w L G^2,
        e2 = sum w L^2 G) for the table's derivatives."""
        lam, tz = self.spec.eigenvalues, self.spec.tail_z
        g = np.asarray(gamma, dtype=np.float64).ravel()
        rows = 7 if derivs else rows
        out = np.empty((rows, g.size))
        step = max(1, _CHUNK // max(lam.size, 1))
        for s in range(0, g.size, step):
            gs = g[s:s + step]
            inv = 1.0 / (lam + gs[:, None])  # (G, J)
            with np.errstate(divide="ignore", invalid="ignore"):
                tail = np.where(gs > 0, tz / gs, 0.0) if tz else 0.0
            out[0, s:s + step] = inv @ self.c1 + tail
            if rows == 1:
                continue
            inv2 = inv * inv
            out[1, s:s + step] = inv2 @ self.c2[0]
            if rows == 2:
                continue
            out[2, s:s + step] = gs**2 * (inv2 @ self.c2[1])
            out[3, s:s + step] = gs * (inv2 @ self.c2[2])
            if derivs:
                inv3 = inv2 * inv
                out[4, s:s + step] = inv3 @ self.c3[0]
                out[5, s:s + step] = gs**2 * (inv3 @ self.c3[1])
                out[6, s:s + step] = gs * (inv3 @ self.c3[2])
        return out

    def build_table(self, u_lo: float, u_hi: float) -> None:
        """Tabulate the sums and their exact u-derivatives on [u_lo, u_hi]."""
        u = np.arange(u_lo, u_hi + _H, _H)
        s = self.exact(np.exp(u), derivs=True)
        z, q, S1, S2, c3, e1, e2 = s
        # d/du with u = log gamma: dL/du = -L G, dG/du = +L G
        d = np.stack([-(z - q), -2 * (q - c3), 2 * e1, e2 - e1])
        self.table = (u[0], u, s[:4], d)

    def __call__(self, gamma: np.ndarray, rows: int = 4) -> np.ndarray:
        g = np.asarray(gamma, dtype=np.float64)
        if self.table is None:
            return self.exact(g, rows)
        u0, u, y, d = self.table
        with np.errstate(divide="ignore"):
            x = np.log(g)
        inside = (x >= u[0]) & (x < u[-1])
        out = np.empty((rows, g.size))
        if (~inside).any():
            out[:, ~inside] = self.exact(g[~inside], rows)
        xi = x[inside]
        j = np.minimum(((xi - u0) / _H).astype(np.int64), u.size - 2)
        t = (xi - u[j]) / _H
        t2, t3 = t * t, t * t * t
        h00, h10 = 2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + t
        h01, h11 = -2 * t3 + 3 * t2, t3 - t2
        out[:, inside] = (h00 * y[:rows, j] + h10 * _H * d[:rows, j]
                          + h01 * y[:rows, j + 1] + h11 * _H * d[:rows, j + 1])
        return out


def _bisect(f, lo, hi, tol=1e-13, max_iter=200):
    """Vectorised bisection for increasing ``f`` with ``f(lo) < 0 <= f(hi)``."""
    for _ in range(max_iter):
        if lo.size == 0 or np.max(hi - lo) <= tol:
            break
        mid = 0.5 * (lo + hi)
        neg = f(mid) < 0
        lo, hi = np.where(neg, mid, lo), np.where(neg, hi, mid)
    return 0.5 * (lo + hi)


def _newton(fg, lo, hi, ftol=1e-12, max_iter=100):
    """Safeguarded Newton in ``gamma`` for increasing ``f`` on ``[lo, hi]``, started at
    ``hi`` (where ``f >= 0``).

    ``fg(gamma, idx)`` returns ``(f, df)`` at the points ``idx``. ``Psi`` is convex in
    gamma (exactly so for KRR, where ``Psi'' = 2 sum lambda_i^2/(lambda_i + gamma)^3``),
    so iterates from the right decrease monotonically to the root; a step leaving the
    bracket is replaced by a geometric bisection. A NaN value (``Psi <= 0``) counts as
    negative. A point stops when ``|f|`` is at ``ftol`` or at the rounding level of
    ``f`` (a ridge too small to resolve: the caller's clamp then returns the ridgeless
    answer). Only unconverged points are evaluated.
    """
    x, lo, hi = hi.copy(), lo.copy(), hi.copy()
    act = np.arange(x.size)
    for _ in range(max_iter):
        f, df = fg(x[act], act)
        xa, la, ha = x[act], lo[act], hi[act]
        with np.errstate(invalid="ignore"):
            conv = (np.abs(f) <= ftol + 8e-16 * np.abs(df) * xa) | (ha - la <= 4e-16 * ha)
        neg = ~(f >= 0)
        la, ha = np.where(neg, xa, la), np.where(neg, ha, xa)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = xa - f / df
            mid = np.where(la > 0, np.sqrt(la * ha), 0.5 * (la + ha))
        ok = np.isfinite(step) & (step > la) & (step <= ha)
        x[act] = np.where(conv, xa, np.where(ok, step, mid))
        lo[act], hi[act] = la, ha
        act = act[~conv]
        if act.size == 0:
            break
    return x


def _ridgeless_gamma(sums: _Sums, r: np.ndarray) -> np.ndarray:
    """gamma_0 with z(gamma_0) = r (unique r values, bisection on log gamma)."""
    spec = sums.spec
    lam, m = spec.eigenvalues, spec.multiplicity
    ru, inv = np.unique(r, return_inverse=True)
    known = np.array([x in sums.g0_cache for x in ru.tolist()], dtype=bool)
    if known.all():
        return np.array([sums.g0_cache[x] for x in ru.tolist()])[inv]
    M = float(m.sum())
    # z >= M/(1 + g/lam_min) > r  for g below the first bound; z >= tail_z/g with a tail
    cands = np.full(ru.shape, np.inf)
    if lam.size:
        with np.errstate(divide="ignore", invalid="ignore"):
            cands = np.where(ru < M, lam[-1] * (M - ru) / (2 * M), np.inf)
    if spec.tail_z > 0:
        cands = np.minimum(cands, spec.tail_z / (2 * ru))
    lo = np.log(cands) - 1.0
    hi = np.log(2 * (float(m @ lam) + spec.tail_z) / ru) + 1.0  # z <= (T1 + tail)/g
    u = _bisect(lambda x: ru - sums(np.exp(x), rows=1)[0], lo, hi)
    sums.g0_cache.update(zip(ru.tolist(), np.exp(u).tolist(), strict=True))
    return np.exp(u)[inv]


def spectrum_risk(spec: Spectrum, noise_var, n, k, ridge, method: str = "auto",
                  _sums: _Sums | None = None) -> dict:
    """RF eigenframework risks for a :class:`Spectrum`, broadcast over (n, k, ridge).

    Parameters
    ----------
    spec : Spectrum
    noise_var : float or array
        Label-noise variance ``sigma^2`` (test risk includes it).
    n, k, ridge : array_like
        Samples, features (``np.inf`` for KRR) and ridge ``delta >= 0``; broadcast.
    method : {"auto", "exact", "table"}
        How the sums are evaluated; "auto" tabulates when the grid is large.
    _sums : internal
        A shared evaluator (keeps its table and gamma_0 cache across calls).

    Returns
    -------
    dict of ndarray (0-d inputs give floats)
        ``test_risk``, ``train_risk``, ``gamma``, ``kappa``, ``z``, ``q``, ``e_rf``
        (overfitting coefficient), ``bias`` (``sum b_i v_i^2``, excluding noise).
    """
    n, k, d, s2 = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64)
                                        for a in (n, k, ridge, noise_var)))
    shape = n.shape
    n, k, d, s2 = (a.ravel() for a in (n, k, d, s2))
    if np.any(d < 0) or np.any(n <= 0) or np.any(k <= 0):
        raise ValueError("need n > 0, k > 0 and ridge >= 0")
    ik = np.where(np.isinf(k), 0.0, 1.0 / k)
    r = np.minimum(n, k)
    sums = _Sums(spec) if _sums is None else _sums
    lam = spec.eigenvalues
    pos = d > 0
    use_table = method == "table" or (method == "auto" and pos.sum() * lam.size > 4e6)
    if use_table and lam.size and sums.table is None:
        u_lo, u_hi = np.log(lam[-1]) - 12, np.log(lam[0]) + 12  # else exact
        if pos.any():
            u_hi = max(u_hi, float(np.log(np.max(d[pos] / n[pos]))) + 3)
        sums.build_table(u_lo, u_hi)
    # ridgeless bracket end gamma_0 (0 when min(n, k) >= number of modes)
    M = spec.n_modes
    need = r < M
    g0 = np.zeros_like(n)
    if need.any():
        g0[need] = _ridgeless_gamma(sums, r[need])
    gamma = g0.copy()
    if pos.any():
        nn, ii, dd = n[pos], ik[pos], d[pos]
        with np.errstate(divide="ignore"):
            lo = np.maximum(np.log(g0[pos]), np.log(dd / nn) - 1.0)  # Psi <= g n

        def fg(g, idx):  # Psi/delta - 1 and d/dgamma (dz/dgamma = -(z - q)/gamma)
            z, q = sums(g, rows=2)
            a, b = 1 - z * ii[idx], nn[idx] - z
            return g * a * b / dd[idx] - 1.0, (a * b + (z - q) * (ii[idx] * b + a)) / dd[idx]

        hi = np.maximum(lo, np.log(dd / nn)) + 1.0
        every = np.arange(hi.size)
        for _ in range(200):  # Psi -> g n as g -> inf, so this ends
            low = ~(fg(np.exp(hi), every)[0] >= 0)
            if not low.any():
                break
            hi = np.where(low, hi + 3.0, hi)
        gamma[pos] = _newton(fg, np.exp(lo), np.exp(hi))
    out = np.empty((4, n.size))
    zero = gamma == 0
    out[:, ~zero] = sums(gamma[~zero])
    if zero.any():  # every mode learned: L = 1
        out[:, zero] = np.array([[M], [M], [0.0], [0.0]])
    z, q, S1, S2 = out
    # ridgeless: z = r exactly; any ridge: z <= r. Clamping is the guard that turns a
    # ridge below float resolution into the ridgeless answer instead of n - z < 0.
    z = np.where(need & ~pos, r, np.minimum(z, r))
    q = np.minimum(q, z)
    nz, kz, kq = n - z, 1 - z * ik, 1 - q * ik
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(z > q, (z - q) / kq, 0.0)  # k (z - q)/(k - q); 0/0 -> 0
        e_rf = n / (nz + ratio * kz)
        bias = S1 + ratio * ik * S2 + spec.tail_v2
        test = e_rf * (bias + s2)
        train = np.where(nz > 0, (nz / n) ** 2 * test, 0.0)
    res = dict(test_risk=test, train_risk=train, gamma=gamma, kappa=gamma * kz, z=z, q=q,
               e_rf=e_rf, bias=bias)
    return {key: (v.reshape(shape) if shape else float(v[0])) for key, v in res.items()}


def rf_risk(eigenvalues, target_coeffs_sq, noise_var, n, k, ridge, multiplicity=None,
            method: str = "auto") -> dict:
    """Test and train risk of RF ridge regression from the eigenframework (spec §2.2).

    Parameters
    ----------
    eigenvalues, target_coeffs_sq : array_like, shape (P,)
        ``lambda_i`` (population-normalised) and ``v_i^2``; or pass a
        :class:`Spectrum` as ``eigenvalues`` (then ``target_coeffs_sq`` is ignored).
    noise_var : float
        ``sigma^2``.
    n, k, ridge : array_like
        Broadcast together; ``k = math.inf`` is kernel ridge regression.
    multiplicity : array_like, optional
        Mode multiplicities ``m_i`` per level.

    Returns
    -------
    dict
        ``test_risk``, ``train_risk``, ``gamma``, ``kappa`` and more (see
        :func:`spectrum_risk`). ``k == n`` at zero ridge gives ``test_risk = inf``.

    Examples
    --------
    >>> import numpy as np
    >>> i = np.arange(1, 2001.0)
    >>> r = rf_risk(i**-1.5, i**-1.5, 0.5, n=256, k=16, ridge=0.1)
    >>> round(r["test_risk"], 3)
    1.419
    """
    spec = eigenvalues if isinstance(eigenvalues, Spectrum) else make_spectrum(
        eigenvalues, target_coeffs_sq, multiplicity)
    return spectrum_risk(spec, noise_var, n, k, ridge, method)


# -- optimal ridge (spec §2.3 step 7) -----------------------------------------------------
def optimal_ridge(spec: Spectrum, noise_var, n, k, n_grid: int = 49, refine: bool = True,
                  method: str = "auto") -> dict:
    """Minimise the test risk over the ridge, vectorised over broadcast (n, k).

    A per-point log grid of ``n_grid`` ridges spanning ``1e-4 n gamma_0`` to
    ``1e2 n lambda_1`` is refined by golden-section search between the neighbours of the
    grid minimum (bounded refinement), then compared with ``ridge = 0`` (the optimum can
    sit on that boundary, e.g. when beta >= alpha).

    Returns
    -------
    dict
        ``ridge`` (optimal delta, 0 where ridgeless wins), ``test_risk``, ``train_risk``,
        ``fitting_ratio`` (E_tr / E_te at the optimum).
    """
    n, k, s2 = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64)
                                     for a in (n, k, noise_var)))
    shape = n.shape
    n, k, s2 = n.ravel(), k.ravel(), s2.ravel()
    sums = _Sums(spec)
    if method == "table" or (method == "auto" and n.size * n_grid * spec.eigenvalues.size
                             > 4e6):
        sums.build_table(np.log(spec.eigenvalues[-1]) - 12, np.log(spec.eigenvalues[0]) + 12)
    zero = spectrum_risk(spec, s2, n, k, 0.0, "exact", sums)
    lam1 = spec.eigenvalues[0]
    g_ref = np.where(zero["gamma"] > 0, zero["gamma"], spec.eigenvalues[-1])
    u_a = np.log(1e-4 * n * g_ref)
    u_b = np.log(1e2 * n * lam1)
    u = u_a[:, None] + (u_b - u_a)[:, None] * np.linspace(0, 1, n_grid)  # (G, R)

    def risk(uu, key="test_risk"):
        return spectrum_risk(spec, s2[:, None] if uu.ndim == 2 else s2,
                             n[:, None] if uu.ndim == 2 else n,
                             k[:, None] if uu.ndim == 2 else k, np.exp(uu), "exact",
                             sums)[key]

    grid = risk(u)
    j = np.argmin(np.where(np.isfinite(grid), grid, np.inf), axis=1)
    rows = np.arange(n.size)
    a = u[rows, np.maximum(j - 1, 0)]
    b = u[rows, np.minimum(j + 1, n_grid - 1)]
    if refine:  # golden section on [a, b]; the grid minimum is bracketed there
        phi = (np.sqrt(5) - 1) / 2
        c, e = b - phi * (b - a), a + phi * (b - a)
        fc, fe = risk(c), risk(e)
        for _ in range(45):  # bracket (~2 grid cells) shrinks by 0.618^45 ~ 4e-10
            left = fc < fe
            a, b = np.where(left, a, c), np.where(left, e, b)
            keep, f_keep = np.where(left, c, e), np.where(left, fc, fe)
            new = np.where(left, b - phi * (b - a), a + phi * (b - a))
            f_new = risk(new)
            c, e = np.where(left, new, keep), np.where(left, keep, new)
            fc, fe = np.where(left, f_new, f_keep), np.where(left, f_keep, f_new)
        u_best = 0.5 * (a + b)
    else:
        u_best = u[rows, j]
    best = spectrum_risk(spec, s2, n, k, np.exp(u_best), "exact", sums)
    grid_min = grid[rows, j]
    take_grid = grid_min < best["test_risk"]  # refinement never worsens the grid value
    ridge = np.where(take_grid, np.exp(u[rows, j]), np.exp(u_best))
    if take_grid.any():
        best = spectrum_risk(spec, s2, n, k, ridge, "exact", sums)
    use_zero = zero["test_risk"] <= best["test_risk"]
    res = {"ridge": np.where(use_zero, 0.0, ridge)}
    for key in ("test_risk", "train_risk"):
        res[key] = np.where(use_zero, zero[key], best[key])
    with np.errstate(invalid="ignore", divide="ignore"):
        res["fitting_ratio"] = res["train_risk"] / res["test_risk"]
    return {key: (v.reshape(shape) if shape else float(v[0])) for key, v in res.items()}


# -- powerlaw continuum for KRR (spec §3.2-3.3) -------------------------------------------
def powerlaw_constant(alpha: float, beta: float) -> float:
    """``A_{alpha,beta}`` of the continuum risk (spec §3.2); needs 1 < beta < 2 alpha + 1."""
    return ((alpha - beta + 1) * np.pi**beta * alpha**-beta
            * np.sin(np.pi / alpha) ** (1 - beta) / np.sin(np.pi * (beta - 1) / alpha))


def powerlaw_test_risk(fitting_ratio, alpha, beta, noise_rel=0.0, n=1.0):
    """Continuum KRR test risk vs fitting ratio ``R = E_tr/E_te`` (spec §3.2):
    ``E_te = A n^{-(beta-1)} [(1-s)^{-(beta-1)} + alpha sigma_rel^2] / (1 + (alpha-1) s)``
    with ``s = sqrt(R)``; the noise is ``sigma_rel^2`` times the ridgeless noiseless risk.
    """
    s = np.sqrt(np.asarray(fitting_ratio, dtype=np.float64))
    return (powerlaw_constant(alpha, beta) * np.asarray(n, dtype=np.float64) ** (1 - beta)
            * ((1 - s) ** (1 - beta) + alpha * noise_rel) / (1 + (alpha - 1) * s))


def ridge_from_s(s, alpha, n):
    """Ridge giving root fitting ratio ``s`` (spec §3.2): ``s (1-s)^-a c_a^a n^(1-a)``."""
    c = np.pi / (alpha * np.sin(np.pi / alpha))
    s = np.asarray(s, dtype=np.float64)
    return s * (1 - s) ** -alpha * c**alpha * np.asarray(n, dtype=np.float64) ** (1 - alpha)


def zero_ridge_threshold(alpha, beta):
    """Largest relative noise for which zero ridge is optimal: ``(b - a)/(a (a - 1))``;
    negative means a positive ridge always helps (spec §3.3)."""
    alpha, beta = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    return (beta - alpha) / (alpha * (alpha - 1))


def optimal_fitting_ratio(alpha, beta, noise_rel=0.0):
    """Continuum optimum ``R* = s*^2`` (spec §3.3), vectorised over broadcast inputs.

    ``s*`` is the root in (0, 1) of the stationarity condition
    ``(b-1)(1 + (a-1)s) = (a-1)[(1-s) + a sigma_rel^2 (1-s)^b]`` (its left minus right
    side is increasing in s and has the sign of dE/ds), or 0 when it is >= 0 at s = 0.
    """
    a, b, nr = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64)
                                     for x in (alpha, beta, noise_rel)))

    def f(s):
        return (b - 1) * (1 + (a - 1) * s) - (a - 1) * ((1 - s) + a * nr * (1 - s) ** b)

    interior = f(np.zeros_like(a)) < 0
    s = _bisect(f, np.zeros_like(a), np.ones_like(a), tol=1e-15)
    out = np.where(interior, s, 0.0) ** 2
    return float(out) if out.ndim == 0 else out


# -- what a configured sweep predicts ------------------------------------------------------
def sweep_theory(spec: Spectrum, noise_var: float, sweep: str, values, fixed: float,
                 ridges, fine_points: int = 48, population: int | None = None) -> dict:
    """Theory arrays for a k- or n-sweep at several ridges (the run's metric names).

    Returns ``theory_test`` / ``theory_train`` (R, S) at the swept values, the dense
    curves ``theory_test_fine`` (R, F) over ``theory_sweep_fine`` (F,), and the
    optimal-ridge envelope ``theory_opt_fine`` / ``theory_opt_ridge_fine`` (F,). With
    ``population`` (a finite data set whose Gram matrix gave ``spec``) test risks are
    corrected to off-sample risks (spec §4.3).
    """
    from orthoviz.random_features.metrics import finite_population_correction

    values = np.asarray(values, dtype=np.float64)
    ridges = np.asarray(ridges, dtype=np.float64)
    lo, hi = values.min(), values.max()
    fine = np.unique(np.concatenate([np.geomspace(lo, hi, fine_points), values]))
    if sweep == "n" and population:
        fine = fine[fine < population]

    def nk(v):
        return (v, fixed) if sweep == "n" else (fixed, v)

    def correct(res, n):
        if not population:
            return res["test_risk"], res["train_risk"]
        return finite_population_correction(res["test_risk"], res["train_risk"],
                                            population, n), res["train_risk"]

    n_s, k_s = nk(values[None, :])
    te, tr = correct(spectrum_risk(spec, noise_var, n_s, k_s, ridges[:, None]), n_s)
    n_f, k_f = nk(fine[None, :])
    te_f, tr_f = correct(spectrum_risk(spec, noise_var, n_f, k_f, ridges[:, None]), n_f)
    opt = optimal_ridge(spec, noise_var, *nk(fine))
    te_o, _ = correct({"test_risk": opt["test_risk"], "train_risk": opt["train_risk"]},
                      nk(fine)[0])
    return {"sweep_values": values, "ridges": ridges, "theory_test": te,
            "theory_train": tr, "theory_sweep_fine": fine, "theory_test_fine": te_f,
            "theory_train_fine": tr_f, "theory_opt_fine": np.asarray(te_o, dtype=float),
            "theory_opt_ridge_fine": np.asarray(opt["ridge"], dtype=float)}
