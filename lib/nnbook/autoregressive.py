"""Autoregressive models (自回归模型), chapter 16: MADE on binary vectors.

The chain rule of probability factorises any distribution over ``D`` variables::

    p(x) = Π_{d=1}^{D} p(x_d | x_1, …, x_{d−1})

MADE (Germain et al., 2015) computes all ``D`` conditionals in **one** pass of an
autoencoder-shaped MLP whose weight matrices are multiplied by binary masks, so
that output ``d`` only sees inputs that come before ``d`` in the ordering::

    degree of input d      m(d) = its position in the order, 1 … D
    degree of hidden unit  m(k) ∈ {1, …, D−1}
    hidden mask            M[k, d] = 1  iff  m(k) ≥ m(d)
    output mask            M[d, k] = 1  iff  m(d) > m(k)      (strict: no x_d → p(x_d | …))

    p(x_d = 1 | x_<d) = σ(logit_d(x)),   log p(x) = Σ_d log Bern(x_d; σ(logit_d))   (nats)

Scoring a batch is one network pass; sampling needs ``D`` passes, one per pixel.

**Stable API** (used by chapter 18)::

    model = MADE(input_dim=64, hidden=(512,))
    model.log_prob(x)          # x (n, 64) binary → (n,) exact log-likelihood, nats
    model.sample(n)            # (n, 64) binary, drawn pixel by pixel (64 passes)
    model = train_made(X_train, epochs=100, seed=0)   # digits: test NLL ≈ 16.9 nats, ~4 s of CPU
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnbook.exercises import exercise, expect_equal
from nnbook.utils import seeded
from nnbook.validate import (COUNT, GENERATOR, NONNEGATIVE, POSITIVE, SEED, check_int, check_tensor, checked,
                             FloatTensor, Function, Instance, Int, Tensor)

__all__ = [
    "check_binary_rows",
    "made_degrees",
    "made_masks",
    "MaskedLinear",
    "MADE",
    "train_made",
    "input_output_jacobian",
]


# ---------------------------------------------------------------- checks and argument rules
def check_binary_rows(name: str, x, dim: int | None = None) -> torch.Tensor:
    """Return ``x`` as a float tensor ``(n, dim)`` of 0s and 1s, or raise naming ``name``."""
    t = check_tensor(name, x, ndim=2)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    dim = None if dim is None else check_int("dim", dim, min_value=1)
    if dim is not None and t.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim}), got {tuple(t.shape)}")
    if not bool(((t == 0) | (t == 1)).all()):
        bad = t[(t != 0) & (t != 1)].flatten()[:3].tolist()
        raise ValueError(f"{name} must contain only 0 and 1 (MADE models binary data), found e.g. {bad}; "
                         "binarise first, e.g. load_digits(binarize=True)")
    return t


class Binary(Tensor):
    """The rule for binary rows ``(n, D)``: see :func:`check_binary_rows`."""

    def check(self, name, value):
        return check_binary_rows(name, value)


BINARY, ORDER = Binary(ndim=2), Tensor(ndim=1, optional=True)


def _order(o, D: int) -> torch.Tensor:
    """``order`` after its rule: a permutation of ``0 … D−1`` as a long tensor (``None``: raster order)."""
    if o is None:
        return torch.arange(D)
    if o.is_floating_point() and not bool((o == o.round()).all()):
        raise ValueError("order must contain integers")
    o = o.long()
    if len(o) != D or not torch.equal(torch.sort(o).values, torch.arange(D)):
        raise ValueError(f"order must be a permutation of 0 … {D - 1}, got {o.tolist()[:10]}…")
    return o


# ---------------------------------------------------------------- masks
@checked(input_dim=Int(2), order=ORDER)
def made_degrees(input_dim: int, hidden: Sequence[int], order=None) -> list[torch.Tensor]:
    """Degrees of every layer: ``[inputs (D,), hidden_1 (H1,), …]``.

    Input ``order[i]`` gets degree ``i + 1`` (the default order is 0, 1, …, D−1);
    hidden unit ``k`` gets degree ``1 + (k mod (D − 1))``, so every degree 1 … D−1 is used.
    """
    D, hidden, o = input_dim, _check_hidden(hidden), _order(order, input_dim)
    deg_in = torch.empty(D, dtype=torch.long)
    deg_in[o] = torch.arange(1, D + 1)
    return [deg_in] + [1 + torch.arange(h) % (D - 1) for h in hidden]


@checked(input_dim=Int(2), order=ORDER)
def made_masks(input_dim: int, hidden: Sequence[int], order=None) -> list[torch.Tensor]:
    """The binary masks of a MADE, one per weight matrix, shaped like ``nn.Linear.weight``.

    Returns ``[M_1 (H1, D), M_2 (H2, H1), …, M_out (D, H_L)]`` (float 0/1) with
    ``M[k, j] = 1 iff m(k) ≥ m(j)`` between hidden layers and ``M[d, k] = 1 iff m(d) > m(k)``
    into the outputs (output ``d`` has the degree of input ``d``).
    """
    degs = made_degrees.unchecked(input_dim, hidden, order)
    masks = [(d_out[:, None] >= d_in[None, :]).float() for d_in, d_out in zip(degs[:-1], degs[1:])]
    masks.append((degs[0][:, None] > degs[-1][None, :]).float())
    return masks


def _check_hidden(hidden) -> tuple[int, ...]:
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (int(hidden),)
    if not isinstance(hidden, (tuple, list)) or len(hidden) == 0:
        raise TypeError(f"hidden must be an int or a non-empty sequence of ints, got {hidden!r}")
    return tuple(check_int(f"hidden[{i}]", h, min_value=1) for i, h in enumerate(hidden))


class MaskedLinear(nn.Linear):
    """``y = (M ⊙ W) x + b``: a linear layer whose connections are cut by a fixed 0/1 mask ``M (out, in)``."""

    @checked(in_features=COUNT, out_features=COUNT, mask=Tensor(ndim=2))
    def __init__(self, in_features: int, out_features: int, mask):
        super().__init__(in_features, out_features)
        if mask.shape != (out_features, in_features):
            raise ValueError(f"mask must have shape ({out_features}, {in_features}), got {tuple(mask.shape)}")
        mask = mask.to(torch.get_default_dtype())
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("mask must contain only 0 and 1")
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.linear(x, self.weight * self.mask, self.bias)


# ---------------------------------------------------------------- the model
class MADE(nn.Module):
    """Masked autoencoder for distribution estimation on binary vectors.

    Parameters
    ----------
    input_dim : number of binary variables ``D`` (64 for the 8×8 digits).
    hidden : widths of the hidden layers (an int means one layer); each must be ≥ 1.
    order : optional permutation of ``0 … D−1``: the order in which the chain rule
        visits the variables (default: raster order 0, 1, …, D−1).

    Shapes: ``x (n, D)`` binary → ``logits(x) (n, D)``, ``log_prob(x) (n,)``.
    """

    @checked(input_dim=Int(2), order=ORDER)
    def __init__(self, input_dim: int = 64, hidden: int | Sequence[int] = (512,), order=None):
        super().__init__()
        self.input_dim = input_dim
        self.hidden = _check_hidden(hidden)
        self.register_buffer("order", _order(order, self.input_dim))
        masks = made_masks.unchecked(self.input_dim, self.hidden, self.order)
        sizes = [self.input_dim, *self.hidden, self.input_dim]
        layers: list[nn.Module] = []
        for i, m in enumerate(masks):
            layers.append(MaskedLinear(sizes[i], sizes[i + 1], m))
            if i < len(masks) - 1:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _fit(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """``x (n, D)`` after its rule, moved to the parameters' device and dtype."""
        if x.shape[1] != self.input_dim:
            raise ValueError(f"{name} must have shape (n, {self.input_dim}), got {tuple(x.shape)}")
        return x.to(device=self.device, dtype=next(self.parameters()).dtype)

    @checked(x=FloatTensor(ndim=2))
    def logits(self, x) -> torch.Tensor:
        """Logits of ``p(x_d = 1 | x_<d)`` for every ``d``: ``(n, D)``; entry ``d`` depends only on ``x_<d``.

        ``x`` may be any real ``(n, D)`` tensor here (the Jacobian check feeds continuous inputs).
        """
        return self.net(self._fit("x", x))

    def forward(self, x) -> torch.Tensor:
        return self.logits(x)

    @checked(x=BINARY)
    def log_prob(self, x) -> torch.Tensor:
        """Exact ``log p(x) = Σ_d log p(x_d | x_<d)`` in nats for binary rows ``x (n, D)``; returns ``(n,)``."""
        return self._log_prob(self._fit("x", x))

    def _log_prob(self, x):                      # unchecked: the training loop calls it
        return -F.binary_cross_entropy_with_logits(self.net(x), x, reduction="none").sum(dim=1)

    @torch.no_grad()
    @checked(n=COUNT, generator=GENERATOR)
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` binary vectors ``(n, D)`` by ancestral sampling along the order: ``D`` network passes."""
        dtype = next(self.parameters()).dtype
        x = torch.zeros(n, self.input_dim, device=self.device, dtype=dtype)
        u = torch.rand(n, self.input_dim, generator=generator, dtype=dtype).to(self.device)
        for d in self.order.tolist():            # pixel d only needs the pixels already drawn
            p = torch.sigmoid(self.net(x)[:, d])
            x[:, d] = (u[:, d] < p).to(dtype)
        return x


@checked(X_train=BINARY, epochs=COUNT, lr=POSITIVE, batch_size=COUNT, weight_decay=NONNEGATIVE, seed=SEED,
         callback=Function(optional=True))
def train_made(
    X_train,
    *,
    epochs: int = 100,
    hidden: int | Sequence[int] = (512,),
    lr: float = 2e-3,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    order=None,
    seed: int = 0,
    callback: Callable[[int, MADE], None] | None = None,
) -> MADE:
    """Fit a :class:`MADE` to binary rows ``X_train (n, D)`` by maximum likelihood (Adam).

    Each epoch visits every row once in a seeded random order. ``callback(epoch, model)``
    is called after every epoch (model in eval mode). The model's ``history`` attribute
    holds the mean training NLL (nats) of every epoch. Returns the trained model on
    ``X_train``'s device. ``hidden`` and ``order`` are checked by :class:`MADE`.
    """
    with seeded(seed):                            # the initial weights; the caller's random state is left alone
        model = MADE(X_train.shape[1], hidden, order).to(X_train.device)
    X = model._fit("X_train", X_train)          # the parameters' dtype, once (the steps below are unchecked)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    model.history = []
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(X), generator=g).to(X.device)
        total = 0.0
        for i in range(0, len(X), batch_size):
            xb = X[perm[i:i + batch_size]]
            loss = -model._log_prob(xb).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(xb)
        model.history.append(total / len(X))
        if callback is not None:
            model.eval()
            callback(epoch, model)
            model.train()
    model.eval()
    return model


@checked(model=Instance(MADE), x=FloatTensor(ndim=1))
def input_output_jacobian(model: MADE, x) -> torch.Tensor:
    """``J[d, j] = ∂ logit_d / ∂ x_j`` at one input ``x (D,)`` (real-valued), by autograd: ``(D, D)``.

    For a correct MADE in the default order, ``J`` is strictly lower-triangular.
    """
    if x.shape[0] != model.input_dim:
        raise ValueError(f"x must have shape ({model.input_dim},), got {tuple(x.shape)}")
    x = x.to(device=model.device, dtype=next(model.parameters()).dtype)
    return torch.autograd.functional.jacobian(lambda v: model.net(v[None])[0], x)


# ---------------------------------------------------------------- exercise checker
def _ref_masks(deg_in, deg_hidden):
    deg_in, deg_hidden = torch.as_tensor(deg_in), torch.as_tensor(deg_hidden)
    return (deg_hidden[:, None] >= deg_in[None, :]).float(), (deg_in[:, None] > deg_hidden[None, :]).float()


def _wrong_masks_leak(deg_in, deg_hidden):      # ≥ on the output layer: x_d reaches p(x_d)
    deg_in, deg_hidden = torch.as_tensor(deg_in), torch.as_tensor(deg_hidden)
    return (deg_hidden[:, None] >= deg_in[None, :]).float(), (deg_in[:, None] >= deg_hidden[None, :]).float()


def _wrong_masks_transposed(deg_in, deg_hidden):  # (in, out) instead of nn.Linear's (out, in)
    a, b = _ref_masks(deg_in, deg_hidden)
    return a.T, b.T


def _wrong_masks_strict_hidden(deg_in, deg_hidden):  # > in the hidden layer: loses x_{d-1} → p(x_d)
    deg_in, deg_hidden = torch.as_tensor(deg_in), torch.as_tensor(deg_hidden)
    return (deg_hidden[:, None] > deg_in[None, :]).float(), (deg_in[:, None] > deg_hidden[None, :]).float()


@exercise(
    "autoregressive.made_masks",
    reference=_ref_masks,
    wrong=[_wrong_masks_leak, _wrong_masks_transposed, _wrong_masks_strict_hidden],
    hint="Shape them like nn.Linear.weight (out, in). Hidden unit k may see input j iff m(k) ≥ m(j); "
         "output d may see hidden unit k iff m(d) > m(k) — strictly, or x_d leaks into p(x_d | x_<d).",
)
def _check_made_masks(func):
    cases = [([1, 2, 3], [1, 2, 1, 2]), ([2, 1, 3], [2, 1]), ([1, 2, 3, 4, 5], [1, 2, 3, 4, 1, 3, 2])]
    for deg_in, deg_hidden in cases:
        got = func(torch.tensor(deg_in), torch.tensor(deg_hidden))
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise AssertionError("return a pair (hidden_mask, output_mask)")
        want = _ref_masks(deg_in, deg_hidden)
        for g_, w_, what in zip(got, want, ["hidden_mask", "output_mask"]):
            g_ = torch.as_tensor(g_).float()
            expect_equal(tuple(g_.shape), tuple(w_.shape), f"shape of {what} for {len(deg_in)} inputs, {len(deg_hidden)} hidden units")
            if not torch.equal(g_, w_):
                k = int((g_ != w_).sum())
                raise AssertionError(f"{what} for input degrees {deg_in}, hidden degrees {deg_hidden}: {k} entries wrong")
        conn = (want[1] @ want[0] > 0).float()
        got_conn = (torch.as_tensor(got[1]).float() @ torch.as_tensor(got[0]).float() > 0).float()
        expect_equal(torch.equal(conn, got_conn), True, "which inputs reach which outputs")
