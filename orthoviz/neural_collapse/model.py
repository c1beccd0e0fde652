"""Deep linear heads on free (UFM) or learned (MLP) features.

Notation (Dang et al. 2023, Sec. 2): H_1 (N x d) are the features (rows = samples here),
W_1 ... W_M the linear layers with W_M (K x d) the classifier, so the output is
Z = H_1 W_1^T ... W_M^T (+ b). ``torch.nn.Linear`` stores each W_j as (out, in).
"""

from __future__ import annotations

import torch
from torch import nn


def _normal_(t: torch.Tensor, std: float, gen: torch.Generator) -> torch.Tensor:
    with torch.no_grad():
        return t.normal_(0.0, std, generator=gen)


class DeepLinearHead(nn.Module):
    """M bias-free linear layers d -> ... -> K; optional unregularised bias on the last."""

    def __init__(self, feature_dim: int, n_classes: int, depth: int, bias: bool,
                 init_std: float, gen: torch.Generator, dtype: torch.dtype):
        super().__init__()
        dims = [feature_dim] * depth + [n_classes]
        self.layers = nn.ModuleList(
            nn.Linear(dims[j], dims[j + 1], bias=False, dtype=dtype) for j in range(depth)
        )
        for layer in self.layers:
            _normal_(layer.weight, init_std, gen)
        self.bias = nn.Parameter(torch.zeros(n_classes, dtype=dtype)) if bias else None

    @property
    def weights(self) -> list[torch.Tensor]:
        """[W_1, ..., W_M], W_j of shape (d_{j+1}, d_j)."""
        return [layer.weight for layer in self.layers]

    def forward(self, H: torch.Tensor) -> torch.Tensor:
        Z = H  # (N, d)
        for layer in self.layers:
            Z = layer(Z)  # (N, d_{j+1})
        return Z if self.bias is None else Z + self.bias  # (N, K)


class MLPBackbone(nn.Module):
    """ReLU MLP feature extractor x (N, in) -> h (N, d), affine last layer (no BatchNorm,
    as in the paper's imbalanced MLP experiment)."""

    def __init__(self, in_dim: int, width: int, n_layers: int, feature_dim: int,
                 gen: torch.Generator, dtype: torch.dtype):
        super().__init__()
        dims = [in_dim] + [width] * n_layers
        blocks: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            blocks += [nn.Linear(a, b, dtype=dtype), nn.ReLU()]
        blocks.append(nn.Linear(dims[-1], feature_dim, dtype=dtype))
        self.net = nn.Sequential(*blocks)
        for m in self.net:
            if isinstance(m, nn.Linear):  # He init, drawn from the run's generator
                _normal_(m.weight, (2.0 / m.in_features) ** 0.5, gen)
                with torch.no_grad():
                    m.bias.zero_()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)


def partial_products(weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """[W_M...W_1, W_M...W_2, ..., W_M]: the classifier seen by layer j's features."""
    out = [weights[-1]]
    for W in reversed(weights[:-1]):
        out.append(out[-1] @ W)
    return out[::-1]


def layer_features(H: torch.Tensor, weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """[H_1, H_2, ..., H_M] with H_{j+1} = H_j W_j^T (rows = samples)."""
    out = [H]
    for W in weights[:-1]:
        out.append(out[-1] @ W.T)
    return out
