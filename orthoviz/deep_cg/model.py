"""Networks that map a residual field to a search direction (2-D or 3-D).

- :class:`DCDMNet`: the paper's CNN (Kaneda et al., ICML 2023; spec 2.1), in Keras
  order ``y = relu(conv(x)) + X``: 16 channels, 3^d kernels, one 2x average-pool level,
  nearest upsampling with a skip connection, a 1x1 linear output. ``"from64"`` has 14
  16->16 convolutions (97,457 parameters in 3-D, 32,657 in 2-D), ``"from128"`` 22.
  Input: r / ||r|| only (``in_channels=1``); with ``in_channels=3`` it also reads the
  FLUID and AIR masks (the geometry-aware variant, the follow-up's fix for free surfaces).
- :class:`MultilevelNet`: the same blocks in a U-Net with ``levels`` poolings, so the
  receptive field spans ~``2^levels`` times more cells at a fraction of the cost: the
  remedy for iteration counts that grow with the grid (spec 7.4).

Every network is fully convolutional: weights trained on one grid run on any other.
Inputs are zero-padded up to a multiple of the total pooling factor and cropped back
(zero = "no residual", as outside the fluid).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from orthoviz.deep_cg.flags import AIR, FLUID

ARCHS = {"from64": (4, 3, 2), "from128": (6, 5, 3)}  # fine convs, coarse pairs, up pairs


def _conv(dim: int, cin: int, cout: int, k: int = 3) -> nn.Module:
    return (nn.Conv2d if dim == 2 else nn.Conv3d)(cin, cout, k, padding=k // 2)


def _pool(x: torch.Tensor, dim: int) -> torch.Tensor:
    return F.avg_pool2d(x, 2) if dim == 2 else F.avg_pool3d(x, 2)


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")  # Keras UpSampling


def _pad_to(x: torch.Tensor, dim: int, multiple: int) -> tuple[torch.Tensor, tuple]:
    grid = x.shape[2:]
    extra = [(-n) % multiple for n in grid]
    if not any(extra):
        return x, grid
    pad = []
    for e in reversed(extra):  # F.pad lists the last axis first
        pad += [0, e]
    return F.pad(x, pad), grid


def _crop(y: torch.Tensor, grid: tuple) -> torch.Tensor:
    return y[(slice(None), slice(None)) + tuple(slice(0, n) for n in grid)]


class _Pairs(nn.Module):
    """``pairs`` times: b = relu(conv(a)); a = relu(conv(b)) + a (Keras order)."""

    def __init__(self, dim: int, width: int, pairs: int):
        super().__init__()
        self.convs = nn.ModuleList(_conv(dim, width, width) for _ in range(2 * pairs))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        for i in range(0, len(self.convs), 2):
            b = F.relu(self.convs[i](a))
            a = F.relu(self.convs[i + 1](b)) + a
        return a


class DCDMNet(nn.Module):
    """The DCDM CNN (spec 2.1): residual (+ optional flag masks) -> direction.

    Parameters
    ----------
    dim : int
        2 or 3.
    arch : str
        ``"from64"`` (the 64^3 model) or ``"from128"`` (the deeper 128^3 model).
    in_channels : int
        1 (the paper: r / ||r|| only) or 3 (also the FLUID and AIR masks).
    width : int
        Channels of every hidden layer (16 in the paper).
    """

    def __init__(self, dim: int = 2, arch: str = "from64", in_channels: int = 1,
                 width: int = 16):
        super().__init__()
        fine, coarse, up = ARCHS[arch]
        self.dim, self.in_channels = dim, in_channels
        self.first = _conv(dim, in_channels, width)                   # f0, linear
        self.fine = nn.ModuleList(_conv(dim, width, width) for _ in range(fine))
        self.coarse = _Pairs(dim, width, coarse)
        self.up = _Pairs(dim, width, up)
        self.out = _conv(dim, width, 1, k=1)                           # Dense(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:               # (B, C, *grid)
        x, grid = _pad_to(x, self.dim, 2)
        f0 = self.first(x)
        la = F.relu(self.fine[0](f0))
        lb = F.relu(self.fine[1](la))
        for i in range(2, len(self.fine), 2):
            la = F.relu(self.fine[i](lb)) + la
            lb = F.relu(self.fine[i + 1](la))
        apa = self.coarse(_pool(lb, self.dim))                        # N/2 resolution
        upa = self.up(_up(apa) + lb)                                  # skip from lb
        return _crop(self.out(upa), grid)


class MultilevelNet(nn.Module):
    """A U-Net of the paper's residual blocks with ``levels`` 2x poolings.

    Down: one block of ``pairs`` residual pairs per level, then pooling; at the bottom
    one block; up: nearest upsampling plus the skip, one block per level.
    """

    def __init__(self, dim: int = 2, levels: int = 4, in_channels: int = 1,
                 width: int = 16, pairs: int = 1):
        super().__init__()
        self.dim, self.in_channels, self.levels = dim, in_channels, levels
        self.first = _conv(dim, in_channels, width)
        self.down = nn.ModuleList(_Pairs(dim, width, pairs) for _ in range(levels))
        self.bottom = _Pairs(dim, width, pairs + 1)
        self.upb = nn.ModuleList(_Pairs(dim, width, pairs) for _ in range(levels))
        self.out = _conv(dim, width, 1, k=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, grid = _pad_to(x, self.dim, 2**self.levels)
        a = self.first(x)
        skips = []
        for block in self.down:
            a = block(a)
            skips.append(a)
            a = _pool(a, self.dim)
        a = self.bottom(a)
        for block, skip in zip(self.upb, reversed(skips), strict=True):
            a = block(_up(a) + skip)
        return _crop(self.out(a), grid)


def build(kind: str = "dcdm", dim: int = 2, geometry: bool = False, **kw) -> nn.Module:
    """A network by name: ``dcdm`` (the paper's, ``arch`` from64/from128) or
    ``multilevel`` (``levels``); ``geometry`` adds the FLUID/AIR input channels."""
    cin = 3 if geometry else 1
    if kind == "dcdm":
        return DCDMNet(dim, in_channels=cin, **kw)
    if kind == "multilevel":
        return MultilevelNet(dim, in_channels=cin, **kw)
    raise ValueError(f"kind must be dcdm or multilevel, got {kind!r}")


def flag_channels(flags: np.ndarray) -> torch.Tensor:
    """FLUID and AIR masks of one grid, float32, shape (1, 2, *grid)."""
    flags = np.asarray(flags)
    return torch.as_tensor(np.stack([flags == FLUID, flags == AIR])[None].astype(np.float32))


def network_input(r_grid: torch.Tensor, geometry: torch.Tensor | None) -> torch.Tensor:
    """Concatenate (B, 1, *grid) residuals with (1 or B, 2, *grid) flag channels."""
    if geometry is None:
        return r_grid
    g = geometry.expand(r_grid.shape[0], *geometry.shape[1:])
    return torch.cat([r_grid, g], dim=1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
