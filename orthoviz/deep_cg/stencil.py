"""The Poisson matrix as a matrix-free stencil on full grids (torch; CPU or GPU).

Same rule as :func:`orthoviz.deep_cg.systems.assemble`, applied to fields of shape
``(B, 1, *grid)`` that are zero outside the fluid: ``(A x)_i = diag_i x_i - sum over
FLUID neighbours j of x_j``. No indices are stored, only the diagonal and one mask per
axis direction (spec 6.3: the bandwidth-lean form of the operator). It is the operator
inside the training loss and the GPU path of the solvers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from orthoviz.deep_cg.flags import FLUID, SOLID


class StencilOperator:
    """``A`` for one grid or a batch of grids with their own flags.

    Parameters
    ----------
    flags : ndarray of int, shape ``grid`` or ``(B, *grid)``
        Cell flags; with a batch, ``dim`` says how many trailing axes are the grid.
    dim : int, optional
        Grid dimension (2 or 3); defaults to ``flags.ndim``.
    device, dtype :
        Where and in which precision the operator runs (float32 by default).

    Examples
    --------
    >>> from orthoviz.deep_cg.systems import poisson_system
    >>> s = poisson_system((8, 8), "water")
    >>> op = s.stencil(dtype=torch.float64)
    >>> x = np.random.default_rng(0).standard_normal(s.n)
    >>> y = op(torch.as_tensor(s.scatter(x))[None, None])[0, 0].numpy()
    >>> bool(np.allclose(s.gather(y), s.A @ x))
    True
    """

    def __init__(self, flags: np.ndarray, dim: int | None = None, device: str = "cpu",
                 dtype: torch.dtype | None = None):
        flags = np.asarray(flags)
        self.dim = flags.ndim if dim is None else int(dim)
        if flags.ndim == self.dim:
            flags = flags[None]
        dtype = torch.float32 if dtype is None else dtype
        f = torch.as_tensor(flags.astype(np.int8), device=device)[:, None]  # (B, 1, *grid)
        fluid = f == FLUID
        pad = (1, 1) * self.dim
        fp = F.pad(f, pad, value=SOLID)
        diag = torch.zeros(f.shape, dtype=dtype, device=device)
        links = []
        for axis in range(self.dim):
            for sign in (-1, 1):
                nb = self._neighbour(fp, axis, sign)
                diag += ((nb != SOLID) & fluid).to(dtype)
                links.append(((nb == FLUID) & fluid).to(dtype))
        self.diag = diag
        self.links = links  # one mask per (axis, sign), in loop order
        self.fluid = fluid.to(dtype)
        self.shape = tuple(f.shape[2:])

    def _neighbour(self, padded: torch.Tensor, axis: int, sign: int) -> torch.Tensor:
        """Slice of a padded (B, C, *grid) tensor holding each cell's neighbour."""
        sl = [slice(None), slice(None)] + [slice(1, -1)] * self.dim
        n = padded.shape[2 + axis]
        sl[2 + axis] = slice(1 + sign, n - 1 + sign)
        return padded[tuple(sl)]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` for fields ``x`` of shape (B, 1, *grid); returns the same shape."""
        xp = F.pad(x, (1, 1) * self.dim)
        y = self.diag * x
        k = 0
        for axis in range(self.dim):
            for sign in (-1, 1):
                y = y - self.links[k] * self._neighbour(xp, axis, sign)
                k += 1
        return y

    def select(self, idx: torch.Tensor) -> StencilOperator:
        """The operator of a batch whose sample i has the flags of grid ``idx[i]``."""
        out = object.__new__(StencilOperator)
        out.dim, out.shape = self.dim, self.shape
        out.diag, out.fluid = self.diag[idx], self.fluid[idx]
        out.links = [m[idx] for m in self.links]
        return out
