"""Multilayer perceptrons and back-propagation written out by hand.

The chapter "MLP and back-propagation" derives BP; this module is that
derivation as code. For an ``L``-layer MLP with weight matrices ``W_l`` of
shape ``(n_l, n_{l-1})`` and biases ``b_l`` of shape ``(n_l,)``:

forward (one row per sample, ``a_0 = X``)::

    z_l = a_{l-1} W_lᵀ + b_l          (N, n_l)
    a_l = f(z_l)        for l < L     (hidden layers)
    a_L = z_L                         (linear output)

loss ``E = 1/(2N) Σ_n ‖a_L − y‖²`` and the deltas ``δ_l = ∂E/∂z_l``::

    δ_L = (a_L − y) / N
    δ_l = (δ_{l+1} W_{l+1}) ⊙ f'(z_l)
    ∂E/∂W_l = δ_lᵀ a_{l-1},   ∂E/∂b_l = Σ_n δ_l

:class:`ManualMLP` implements exactly this (``forward`` / ``backward``) and is
checked against torch autograd in the tests. :class:`DeepMLP` is a plain
``torch.nn`` stack used to measure gradient flow (vanishing / exploding
gradients) and the fixes: activation, initialisation, normalisation and
residual connections.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from nnbook.exercises import exercise, expect_close
from nnbook.validate import COUNT, POSITIVE, Function, Instance, OneOf, Tensor, Widths, check_tensor, checked

__all__ = [
    "ACTIVATIONS",
    "sigmoid",
    "sigmoid_prime",
    "activation",
    "layer_backward",
    "ManualMLP",
    "DeepMLP",
    "layer_grad_norms",
    "xor_data",
    "BatchedXORNet",
]


# ---------------------------------------------------------------- activations
@checked(z=Tensor())
def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """The logistic function ``σ(z) = 1 / (1 + e^{−z})`` (element-wise)."""
    return torch.sigmoid(z)


@checked(z=Tensor())
def sigmoid_prime(z: torch.Tensor) -> torch.Tensor:
    """``σ'(z) = σ(z)(1 − σ(z))``; its maximum is ``σ'(0) = 1/4``."""
    s = torch.sigmoid(z)
    return s * (1 - s)


def _tanh_prime(z):
    return 1 - torch.tanh(z) ** 2


def _relu_prime(z):
    return (z > 0).to(z.dtype)


def _identity_prime(z):
    return torch.ones_like(z)


#: name -> (f, f')
ACTIVATIONS = {
    "sigmoid": (torch.sigmoid, sigmoid_prime.unchecked),
    "tanh": (torch.tanh, _tanh_prime),
    "relu": (torch.relu, _relu_prime),
    "identity": (lambda z: z, _identity_prime),
}


ACTIVATION = OneOf(tuple(ACTIVATIONS))


@checked(name=ACTIVATION)
def activation(name: str):
    """The pair ``(f, f')`` for ``name`` in :data:`ACTIVATIONS`."""
    return ACTIVATIONS[name]


# ---------------------------------------------------------------- one layer of BP
@checked(delta=Tensor(ndim=2), W=Tensor(ndim=2), a_prev=Tensor(ndim=2), z_prev=Tensor(ndim=2, optional=True),
         f_prime=Function())
def layer_backward(delta: torch.Tensor, W: torch.Tensor, a_prev: torch.Tensor, z_prev: torch.Tensor | None, f_prime=sigmoid_prime):
    """Back-propagate through one layer ``z = a_prev Wᵀ + b``.

    ``delta`` (N, n_out) is ``∂E/∂z``; ``W`` (n_out, n_in); ``a_prev`` (N, n_in)
    is the layer's input and ``z_prev`` (N, n_in) the pre-activation that made
    it (``a_prev = f(z_prev)``), or ``None`` when ``a_prev`` is the network input.

    Returns ``(dW, db, delta_prev)``::

        dW = δᵀ a_prev              (n_out, n_in)
        db = Σ_n δ                  (n_out,)
        δ_prev = (δ W) ⊙ f'(z_prev) (N, n_in)   — None if z_prev is None
    """
    if W.shape[0] != delta.shape[1]:
        raise ValueError(f"W must have shape ({delta.shape[1]}, n_in) to match delta {tuple(delta.shape)}, got {tuple(W.shape)}")
    if a_prev.shape != (delta.shape[0], W.shape[1]):
        raise ValueError(f"a_prev must have shape ({delta.shape[0]}, {W.shape[1]}), got {tuple(a_prev.shape)}")
    dW = delta.T @ a_prev
    db = delta.sum(0)
    if z_prev is None:
        return dW, db, None
    if z_prev.shape != a_prev.shape:
        raise ValueError(f"z_prev must have the shape of a_prev {tuple(a_prev.shape)}, got {tuple(z_prev.shape)}")
    return dW, db, (delta @ W) * f_prime(z_prev)


# ---------------------------------------------------------------- the hand-written MLP
class ManualMLP(nn.Module):
    """An MLP with explicit weight matrices and a hand-written ``backward``.

    ``sizes = [n_0, n_1, ..., n_L]``; hidden layers use ``activation``, the
    output layer is linear. Weights ``W_l`` (n_l, n_{l-1}) start as
    ``N(0, 1/n_{l-1})`` (LeCun scaling), biases at 0.
    """

    @checked(sizes=Widths(), activation=ACTIVATION)
    def __init__(self, sizes, activation: str = "tanh", generator: torch.Generator | None = None):
        super().__init__()
        self.sizes, self.activation = sizes, activation
        self.f, self.f_prime = ACTIVATIONS[activation]
        self.W = nn.ParameterList(
            [nn.Parameter(torch.randn(n_out, n_in, generator=generator) / math.sqrt(n_in)) for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])]
        )
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(n_out)) for n_out in self.sizes[1:]])

    def _check_input(self, X):
        return check_tensor("X", X, shape=(None, self.sizes[0])).to(self.W[0].device, self.W[0].dtype)

    def forward_cache(self, X: torch.Tensor):
        """Forward pass keeping every ``z_l`` and ``a_l`` (lists of length L and L+1)."""
        a = self._check_input(X)
        zs, activations = [], [a]
        L = len(self.W)
        for l, (W, b) in enumerate(zip(self.W, self.b), start=1):
            z = a @ W.T + b  # (N, n_l)
            a = self.f(z) if l < L else z
            zs.append(z)
            activations.append(a)
        return zs, activations

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """``a_L`` (N, n_L)."""
        return self.forward_cache(X)[1][-1]

    def loss(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """``E = 1/(2N) Σ_n ‖a_L − y‖²``."""
        out = self(X)
        Y = check_tensor("Y", Y, shape=tuple(out.shape)).to(out)
        return 0.5 * ((out - Y) ** 2).sum() / len(out)

    @torch.no_grad()
    def backward(self, X: torch.Tensor, Y: torch.Tensor):
        """Back-propagation by hand: returns ``(loss, dWs, dbs)`` for ``E`` above.

        ``dWs[l]`` has the shape of ``W[l]``; nothing is written to ``.grad``.
        """
        zs, acts = self.forward_cache(X)
        out = acts[-1]
        Y = check_tensor("Y", Y, shape=tuple(out.shape)).to(out)
        N = len(out)
        loss = 0.5 * ((out - Y) ** 2).sum() / N
        delta = (out - Y) / N  # δ_L, (N, n_L)
        L = len(self.W)
        dWs, dbs = [None] * L, [None] * L
        for l in reversed(range(L)):  # l indexes W[l], whose input is acts[l]
            z_prev = zs[l - 1] if l > 0 else None
            dWs[l], dbs[l], delta = layer_backward.unchecked(delta, self.W[l], acts[l], z_prev, self.f_prime)
        return loss, dWs, dbs

    @torch.no_grad()
    @checked(lr=POSITIVE)
    def sgd_step(self, X, Y, lr: float = 0.1) -> float:
        """One full-batch gradient-descent step with the hand-written gradients."""
        loss, dWs, dbs = self.backward(X, Y)
        for W, b, dW, db in zip(self.W, self.b, dWs, dbs):
            W -= lr * dW
            b -= lr * db
        return float(loss)


# ---------------------------------------------------------------- deep nets for gradient flow
class _Block(nn.Module):
    def __init__(self, width, act, norm, residual):
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.norm = {"none": nn.Identity(), "batch": nn.BatchNorm1d(width), "layer": nn.LayerNorm(width)}[norm]
        self.act = act
        self.residual = residual

    def forward(self, h):
        out = self.act(self.norm(self.linear(h)))
        return h + out if self.residual else out


class DeepMLP(nn.Module):
    """``depth`` hidden layers of ``width`` units, for measuring gradient flow.

    Each hidden block is ``h ← f(norm(W h + b))`` (``h + ...`` when ``residual``).
    ``init``: ``"default"`` (PyTorch's U(±1/√n_in)), ``"normal"`` (N(0, 1):
    weights of size about 1, the notes' "weights > 1"), ``"xavier"``
    (Glorot: Var = 2/(n_in+n_out)) or ``"he"`` (Var = 2/n_in); ``gain``
    multiplies the initial weights afterwards. Input (N, n_in), output (N, n_out).
    """

    @checked(n_in=COUNT, n_out=COUNT, depth=COUNT, width=COUNT, activation=ACTIVATION,
             init=OneOf(("default", "normal", "xavier", "he")), gain=POSITIVE, norm=OneOf(("none", "batch", "layer")))
    def __init__(self, n_in: int, n_out: int, depth: int = 10, width: int = 32, activation: str = "sigmoid",
                 init: str = "default", gain: float = 1.0, norm: str = "none", residual: bool = False):
        super().__init__()
        self.depth = depth
        act = ACTIVATIONS[activation][0]
        self.inp = nn.Linear(n_in, width)
        self.blocks = nn.ModuleList([_Block(width, act, norm, bool(residual)) for _ in range(self.depth)])
        self.out = nn.Linear(width, n_out)
        for lin in self.linears():
            if init == "normal":
                nn.init.normal_(lin.weight, 0.0, 1.0)
            elif init == "xavier":
                nn.init.xavier_normal_(lin.weight)
            elif init == "he":
                nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            if init != "default":
                nn.init.zeros_(lin.bias)
            with torch.no_grad():
                lin.weight.mul_(gain)

    def linears(self):
        """The linear layers from input to output (depth + 2 of them)."""
        return [self.inp, *[b.linear for b in self.blocks], self.out]

    def forward(self, X):
        self.z = []  # every linear layer's output z_l, kept so that ∂E/∂z_l (the delta) can be read
        h = self._keep(self.inp(X))
        for block in self.blocks:
            z = self._keep(block.linear(h))
            out = block.act(block.norm(z))
            h = h + out if block.residual else out
        return self._keep(self.out(h))

    def _keep(self, z):
        if z.requires_grad:
            z.retain_grad()
        self.z.append(z)
        return z


@checked(model=Instance(DeepMLP), of=OneOf(("weight", "delta")))
def layer_grad_norms(model: DeepMLP, of: str = "weight") -> torch.Tensor:
    """Per-layer gradient norms of ``model`` (input layer first), after ``backward``.

    ``of="weight"``: ‖∂E/∂W_l‖_F; ``of="delta"``: ‖δ_l‖_F = ‖∂E/∂z_l‖_F, the
    error signal that BP carries backwards (from the last forward pass).
    """
    grads = [lin.weight.grad for lin in model.linears()] if of == "weight" else [z.grad for z in getattr(model, "z", [])]
    if not grads or any(g is None for g in grads):
        raise ValueError("model has no gradients yet: call loss.backward() first")
    return torch.stack([g.detach().norm() for g in grads]).cpu()


# ---------------------------------------------------------------- XOR, many nets at once
def xor_data(device=None):
    """The four XOR points ``X (4, 2)`` and targets ``y (4, 1)`` in {0, 1}."""
    X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], device=device)
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]], device=device)
    return X, y


class BatchedXORNet(nn.Module):
    """``R`` independent 2-H-1 sigmoid nets trained in parallel (one per random init).

    Weights ``W1 (R, H, 2)``, ``b1 (R, H)``, ``W2 (R, 1, H)``, ``b2 (R, 1)``
    drawn from ``N(0, scale²)``. ``forward(X (N, 2))`` returns ``(R, N, 1)``;
    :meth:`loss` returns each net's MSE ``(R,)``. Since the nets share no
    weights, the gradient of ``loss().sum()`` is every net's own gradient.
    """

    @checked(n_nets=COUNT, hidden=COUNT, scale=POSITIVE)
    def __init__(self, n_nets: int, hidden: int = 2, scale: float = 1.0, generator: torch.Generator | None = None):
        super().__init__()
        R, H, s, g = n_nets, hidden, scale, generator
        self.W1 = nn.Parameter(s * torch.randn(R, H, 2, generator=g))
        self.b1 = nn.Parameter(s * torch.randn(R, H, generator=g))
        self.W2 = nn.Parameter(s * torch.randn(R, 1, H, generator=g))
        self.b2 = nn.Parameter(s * torch.randn(R, 1, generator=g))

    def forward(self, X):
        X = check_tensor("X", X, shape=(None, 2)).to(self.W1)
        h = torch.sigmoid(torch.einsum("rhi,ni->rnh", self.W1, X) + self.b1[:, None, :])
        return torch.sigmoid(torch.einsum("roh,rnh->rno", self.W2, h) + self.b2[:, None, :])

    def loss(self, X, y):
        out = self(X)
        y = check_tensor("y", y, shape=(len(X), 1)).to(out)
        return ((out - y) ** 2).mean(dim=(1, 2))


# ---------------------------------------------------------------- exercise checkers
def _wrong_sigmoid_prime(z):
    return torch.sigmoid(z) * torch.sigmoid(-z) * 4  # scaled: max 1 instead of 1/4


def _wrong_sigmoid_prime2(z):
    return torch.sigmoid(z) * (1 - z)


@exercise(
    "mlp.sigmoid_prime",
    reference=sigmoid_prime,
    wrong=[_wrong_sigmoid_prime, _wrong_sigmoid_prime2, torch.sigmoid],
    hint="σ'(z) = σ(z)(1 − σ(z)); it is 1/4 at z = 0.",
)
def _check_sigmoid_prime(func):
    z = torch.linspace(-8, 8, 41, dtype=torch.float64)
    got = func(z.clone())
    expect_close(got, sigmoid_prime(z), "sigmoid_prime(z) on z in [-8, 8]", atol=1e-8)
    expect_close(func(torch.zeros(3, dtype=torch.float64)), torch.full((3,), 0.25, dtype=torch.float64), "sigmoid_prime(0)")


def _ref_layer_backward(delta, W, a_prev, z_prev):
    return layer_backward(delta, W, a_prev, z_prev, sigmoid_prime)


def _wrong_layer_no_fprime(delta, W, a_prev, z_prev):
    return delta.T @ a_prev, delta.sum(0), delta @ W


def _wrong_layer_transpose(delta, W, a_prev, z_prev):
    return a_prev.T @ delta, delta.sum(0), (delta @ W) * sigmoid_prime(z_prev)


def _wrong_layer_mean_bias(delta, W, a_prev, z_prev):
    return delta.T @ a_prev, delta.mean(0), (delta @ W) * sigmoid_prime(z_prev)


@exercise(
    "mlp.layer_backward",
    reference=_ref_layer_backward,
    wrong=[_wrong_layer_no_fprime, _wrong_layer_transpose, _wrong_layer_mean_bias],
    hint="dW = δᵀ a_prev (shape of W), db = Σ over samples of δ, δ_prev = (δ W) ⊙ σ'(z_prev).",
)
def _check_layer_backward(func):
    g = torch.Generator().manual_seed(1)
    N, n_in, n_out = 5, 4, 3
    z_prev = torch.randn(N, n_in, generator=g, dtype=torch.float64)
    a_prev = torch.sigmoid(z_prev)
    W = torch.randn(n_out, n_in, generator=g, dtype=torch.float64)
    b = torch.randn(n_out, generator=g, dtype=torch.float64)
    target = torch.randn(N, n_out, generator=g, dtype=torch.float64)
    # autograd reference: E = ½ Σ (z − t)², so δ = z − t
    zp = z_prev.clone().requires_grad_(True)
    Wr = W.clone().requires_grad_(True)
    br = b.clone().requires_grad_(True)
    z = torch.sigmoid(zp) @ Wr.T + br
    (0.5 * ((z - target) ** 2).sum()).backward()
    delta = (z - target).detach()
    got = func(delta.clone(), W.clone(), a_prev.clone(), z_prev.clone())
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise AssertionError("layer_backward must return a tuple (dW, db, delta_prev)")
    dW, db, dprev = got
    expect_close(dW, Wr.grad, "dW")
    expect_close(db, br.grad, "db")
    expect_close(dprev, zp.grad, "delta_prev")
