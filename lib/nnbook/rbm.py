"""Boltzmann machines (BM, 玻尔兹曼机), restricted Boltzmann machines (RBM,
受限玻尔兹曼机) and deep belief networks (DBN, 深度信念网络).

Units are binary, 0 or 1. A batch of ``B`` states of ``n`` units is a tensor
``(B, n)``. The equations, as in the chapter:

- BM energy            E(s) = −½ sᵀ W s − bᵀ s            (W symmetric, zero diagonal)
- Boltzmann law        p(s) = exp(−E(s)/T) / Z
- BM Gibbs update      p(s_i = 1 | s_−i) = σ((W_i · s + b_i) / T)
- RBM energy           E(v, h) = −vᵀ W h − bᵀ v − cᵀ h      (W: (n_visible, n_hidden))
- RBM conditionals     p(h_j = 1 | v) = σ(c_j + vᵀ W_:j),   p(v_i = 1 | h) = σ(b_i + W_i: h)
- free energy          F(v) = −bᵀ v − Σ_j softplus(c_j + vᵀ W_:j),  p(v) = exp(−F(v)) / Z
- exact log Z          log Z = logsumexp_h [cᵀ h + Σ_i softplus(b_i + W_i: h)]  (enumerate 2^n_hidden h)
- CD-k gradient        ∂ log p(v)/∂W ≈ ⟨v hᵀ⟩_data − ⟨v hᵀ⟩_k-step Gibbs chain

Every function creates its tensors on the device (and dtype) of its inputs. Random draws use the
``generator`` a function is given; without one they come from torch's global generator, which no
function here seeds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from nnbook.exercises import exercise, expect_close
from nnbook.validate import COUNT, NONNEGATIVE, POSITIVE, Instance, Int, OneOf, Tensor, check_tensor, checked

__all__ = [
    "check_binary",
    "all_binary_states",
    "bm_energy",
    "boltzmann_distribution",
    "bm_gibbs",
    "empirical_distribution",
    "total_variation",
    "RBM",
    "rbm_from_sklearn",
    "RBMHistory",
    "train_rbm",
    "DBN",
    "wake_sleep",
]

MAX_ENUM = 22  # 2^22 states is the most we ever enumerate


# ----------------------------------------------------------------------------- checks
def check_binary(name: str, x, *, ndim=2, n_units: int | None = None) -> torch.Tensor:
    """Return ``x`` as a float tensor whose entries are all 0 or 1, or raise naming ``name``."""
    t = check_tensor(name, x, ndim=ndim)
    if t.dtype == torch.bool:
        t = t.to(torch.get_default_dtype())
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if not bool(((t == 0) | (t == 1)).all()):
        bad = t[(t != 0) & (t != 1)].flatten()[:3].tolist()
        raise ValueError(f"{name} must contain only 0 and 1 (binary units), found e.g. {bad}; "
                         "binarise the data first, e.g. load_digits(binarize=True)")
    return t if n_units is None else _units(name, t, n_units)


def _units(name: str, t: torch.Tensor, n_units: int) -> torch.Tensor:
    if t.shape[-1] != n_units:
        raise ValueError(f"{name} must have {n_units} units in its last dimension, got shape {tuple(t.shape)}")
    return t


class Binary(Tensor):
    """The rule for binary states (see :func:`check_binary`); the number of units is checked in the body."""

    def check(self, name, value):
        return check_binary(name, value, ndim=self.ndim)


class Couplings(Tensor):
    """The rule for a Boltzmann machine's weights: a square, symmetric ``(n, n)`` matrix with a zero diagonal."""

    def check(self, name, value):
        W = super().check(name, value)
        if W.shape[0] != W.shape[1]:
            raise ValueError(f"{name} must be square (n, n), got shape {tuple(W.shape)}")
        W = W if W.is_floating_point() else W.to(torch.get_default_dtype())
        if not torch.allclose(W, W.T):
            raise ValueError(f"{name} must be symmetric ({name}[i, j] == {name}[j, i]): a Boltzmann machine's connections are undirected")
        if bool((W.diagonal() != 0).any()):
            raise ValueError(f"{name} must have a zero diagonal (no self-connections)")
        return W


BINARY, COUPLINGS, BIAS = Binary(ndim=2), Couplings(ndim=2), Tensor(ndim=1)
BM = dict(W=COUPLINGS, b=BIAS)  # the rules of a Boltzmann machine's parameters


def _bias(b: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """The BM bias ``b`` checked against ``W`` ``(n, n)``: shape ``(n,)``, W's dtype and device."""
    if b.shape != (W.shape[0],):
        raise ValueError(f"b must have shape ({W.shape[0]},) to match W, got {tuple(b.shape)}")
    return b.to(W.dtype).to(W.device)


@checked(n=Int(1, MAX_ENUM))
def all_binary_states(n: int, *, device=None, dtype=None) -> torch.Tensor:
    """All ``2^n`` binary vectors as a ``(2^n, n)`` tensor, row ``k`` = binary digits of ``k`` (MSB first)."""
    k = torch.arange(2**n, device=device)
    bits = 2 ** torch.arange(n - 1, -1, -1, device=device)
    return ((k[:, None] & bits) > 0).to(dtype or torch.get_default_dtype())


# ----------------------------------------------------------------------------- fully connected BM
@checked(**BM, s=Binary(ndim=(1, 2)))
def bm_energy(W, b, s) -> torch.Tensor:
    """E(s) = −½ sᵀ W s − bᵀ s for states ``s`` of shape ``(B, n)`` (or ``(n,)``); returns ``(B,)`` (or ``()``)."""
    b, s = _bias(b, W), _units("s", s, W.shape[0]).to(W)
    return -0.5 * ((s @ W) * s).sum(-1) - s @ b


@checked(**BM, T=POSITIVE)
def boltzmann_distribution(W, b, T: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact p(s) = exp(−E(s)/T)/Z by enumeration. Returns ``(states (2^n, n), probs (2^n,))``."""
    b = _bias(b, W)
    if W.shape[0] > MAX_ENUM:
        raise ValueError(f"W has {W.shape[0]} units; enumeration needs at most {MAX_ENUM}")
    states = all_binary_states.unchecked(W.shape[0], device=W.device, dtype=W.dtype)
    return states, torch.softmax(-bm_energy.unchecked(W, b, states) / T, dim=0)


@checked(**BM, n_sweeps=COUNT, T=POSITIVE, n_chains=COUNT, s0=Binary(ndim=2, optional=True))
def bm_gibbs(W, b, n_sweeps: int, *, T: float = 1.0, n_chains: int = 1, s0=None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Sequential Gibbs sampling of a Boltzmann machine.

    Each sweep visits units ``0..n−1`` in turn and resamples
    s_i ~ Bernoulli(σ((W_i · s + b_i)/T)) using the newest values of the others.
    Runs ``n_chains`` independent chains in parallel (or the rows of ``s0``).
    Returns the states after every sweep, shape ``(n_sweeps, n_chains, n)``.
    """
    b, n = _bias(b, W), W.shape[0]
    if s0 is None:
        s = (torch.rand(n_chains, n, device=W.device, generator=generator) < 0.5).to(W.dtype)
    else:
        s = _units("s0", s0, n).to(W).clone()
    out = torch.empty(n_sweeps, s.shape[0], n, device=W.device, dtype=W.dtype)
    for t in range(n_sweeps):
        for i in range(n):
            p_on = torch.sigmoid((s @ W[i] + b[i]) / T)
            s[:, i] = (torch.rand(s.shape[0], device=W.device, generator=generator, dtype=W.dtype) < p_on).to(W.dtype)
        out[t] = s
    return out


@checked(samples=Binary(ndim=(2, 3)))
def empirical_distribution(samples) -> torch.Tensor:
    """Frequencies of the ``2^n`` states in ``samples`` ``(..., n)``, in the order of :func:`all_binary_states`."""
    s = samples.reshape(-1, samples.shape[-1])
    n = s.shape[1]
    if n > MAX_ENUM:
        raise ValueError(f"samples have {n} units; at most {MAX_ENUM} can be tabulated")
    bits = 2 ** torch.arange(n - 1, -1, -1, device=s.device)
    idx = (s.long() * bits).sum(1)
    return torch.bincount(idx, minlength=2**n).to(s.dtype) / len(idx)


@checked(p=Tensor(ndim=1), q=Tensor(ndim=1))
def total_variation(p, q) -> float:
    """Total variation distance ½ Σ |p − q| between two distributions on the same states."""
    if q.shape != p.shape:
        raise ValueError(f"q must have shape {tuple(p.shape)} like p, got {tuple(q.shape)}")
    return 0.5 * float((p - q.to(p)).abs().sum())


# ----------------------------------------------------------------------------- RBM
class RBM(nn.Module):
    """A restricted Boltzmann machine with binary visible and hidden units.

    Parameters: ``W`` (n_visible, n_hidden), visible bias ``b`` (n_visible,),
    hidden bias ``c`` (n_hidden,). Energy E(v, h) = −vᵀ W h − bᵀ v − cᵀ h.
    """

    @checked(n_visible=COUNT, n_hidden=COUNT, init_std=NONNEGATIVE)
    def __init__(self, n_visible: int, n_hidden: int, *, init_std: float = 0.01,
                 generator: torch.Generator | None = None):
        super().__init__()
        W = init_std * torch.randn(n_visible, n_hidden, generator=generator) if init_std > 0 else torch.zeros(n_visible, n_hidden)
        self.W = nn.Parameter(W)
        self.b = nn.Parameter(torch.zeros(n_visible))
        self.c = nn.Parameter(torch.zeros(n_hidden))

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    def _v(self, v, name="v"):  # v after its rule: the visible units of this RBM, on W's device and dtype
        return _units(name, v, self.n_visible).to(self.W)

    def _h(self, h, name="h"):
        return _units(name, h, self.n_hidden).to(self.W)

    # -- the equations
    @checked(v=BINARY, h=BINARY)
    def energy(self, v, h) -> torch.Tensor:
        """E(v, h) = −vᵀ W h − bᵀ v − cᵀ h, for ``v`` (B, n_visible), ``h`` (B, n_hidden); returns (B,)."""
        v, h = self._v(v), self._h(h)
        if v.shape[0] != h.shape[0]:
            raise ValueError(f"v and h must have the same batch size, got {v.shape[0]} and {h.shape[0]}")
        return -((v @ self.W) * h).sum(1) - v @ self.b - h @ self.c

    @checked(v=BINARY)
    def free_energy(self, v) -> torch.Tensor:
        """F(v) = −bᵀ v − Σ_j softplus(c_j + vᵀ W_:j), so that p(v) = exp(−F(v))/Z; returns (B,)."""
        return _free_energy(self, self._v(v))

    @checked(v=BINARY)
    def p_h(self, v) -> torch.Tensor:
        """p(h_j = 1 | v) = σ(c_j + vᵀ W_:j), shape (B, n_hidden)."""
        return torch.sigmoid(self._v(v) @ self.W + self.c)

    @checked(h=BINARY)
    def p_v(self, h) -> torch.Tensor:
        """p(v_i = 1 | h) = σ(b_i + W_i: h), shape (B, n_visible)."""
        return torch.sigmoid(self._h(h) @ self.W.T + self.b)

    @checked(v=BINARY)
    def gibbs_step(self, v, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One block-Gibbs step v → h ~ p(h|v) → v' ~ p(v|h). Returns ``(v', h)``."""
        h = torch.bernoulli(RBM.p_h.unchecked(self, v), generator=generator)
        v_new = torch.bernoulli(RBM.p_v.unchecked(self, h), generator=generator)
        return v_new, h

    @checked(n_steps=COUNT, v0=BINARY, every=Int(0))
    def sample(self, n_steps: int, v0, generator: torch.Generator | None = None, every: int = 0) -> torch.Tensor:
        """Run block Gibbs for ``n_steps`` from ``v0``; returns p(v|h) of the last step (B, n_visible).

        With ``every > 0`` returns the mean images p(v|h) every ``every`` steps, shape (n_steps // every, B, n_visible).
        """
        v = self._v(v0, "v0")
        frames = []
        with torch.no_grad():
            for t in range(1, n_steps + 1):
                h = torch.bernoulli(RBM.p_h.unchecked(self, v), generator=generator)
                mean = RBM.p_v.unchecked(self, h)
                v = torch.bernoulli(mean, generator=generator)
                if every and t % every == 0:
                    frames.append(mean)
        return torch.stack(frames) if every else mean

    def log_partition(self) -> torch.Tensor:
        """Exact log Z by enumerating the smaller layer (at most 2^22 states).

        Summing out v analytically: log Z = logsumexp_h [cᵀ h + Σ_i softplus(b_i + W_i: h)].
        """
        small = min(self.n_visible, self.n_hidden)
        if small > MAX_ENUM:
            raise ValueError(f"exact log Z needs a layer of at most {MAX_ENUM} units, "
                             f"got n_visible={self.n_visible}, n_hidden={self.n_hidden}")
        with torch.no_grad():
            if self.n_hidden <= self.n_visible:
                h = all_binary_states(self.n_hidden, device=self.W.device, dtype=self.W.dtype)
                return torch.logsumexp(h @ self.c + F.softplus(h @ self.W.T + self.b).sum(1), 0)
            v = all_binary_states(self.n_visible, device=self.W.device, dtype=self.W.dtype)
            return torch.logsumexp(-RBM.free_energy.unchecked(self, v), 0)

    @checked(v=BINARY)
    def log_likelihood(self, v) -> float:
        """Mean exact log p(v) = −F(v) − log Z over the rows of ``v``, in nats."""
        with torch.no_grad():
            return float((-RBM.free_energy.unchecked(self, v)).mean() - self.log_partition())

    @checked(v=BINARY)
    def reconstruction_error(self, v, generator: torch.Generator | None = None) -> float:
        """Mean squared error ‖v − p(v|h)‖²/n_visible with h ~ p(h|v): what CD's users often monitor."""
        v = self._v(v)
        with torch.no_grad():
            h = torch.bernoulli(RBM.p_h.unchecked(self, v), generator=generator)
            return float(((v - RBM.p_v.unchecked(self, h)) ** 2).mean())


def rbm_from_sklearn(model, dtype: torch.dtype | None = None) -> RBM:
    """Copy a fitted ``sklearn.neural_network.BernoulliRBM`` into an :class:`RBM` (same energy).

    ``components_`` (n_hidden, n_visible) becomes ``Wᵀ``, ``intercept_visible_`` ``b``, ``intercept_hidden_``
    ``c``. The RBM has ``dtype`` if given, else the dtype of scikit-learn's arrays (float64 for float64
    data), so that nothing is rounded on the way.
    """
    for attr in ("components_", "intercept_hidden_", "intercept_visible_"):
        if not hasattr(model, attr):
            raise TypeError(f"model must be a fitted BernoulliRBM (missing {attr})")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating-point torch.dtype such as torch.float64, got {dtype!r}")
    comp = torch.as_tensor(model.components_)                              # (n_hidden, n_visible)
    dtype = comp.dtype if dtype is None else dtype
    rbm = RBM(comp.shape[1], comp.shape[0], init_std=0.0).to(dtype)
    with torch.no_grad():
        rbm.W.copy_(comp.T)
        rbm.b.copy_(torch.as_tensor(model.intercept_visible_))
        rbm.c.copy_(torch.as_tensor(model.intercept_hidden_))
    return rbm


@dataclass
class RBMHistory:
    """Per-evaluation records of :func:`train_rbm`, one entry per evaluation (aligned with ``epoch``).

    - ``train_ll``, ``test_ll``: exact mean log-likelihood −F̄ − log Z (nats);
    - ``recon``: reconstruction error;
    - ``log_z``: exact log Z; ``train_fe``, ``test_fe``: mean free energy F̄ of the data
      (so ``train_ll = −train_fe − log_z``; the gap ``test_fe − train_fe`` needs no Z);
    - ``pos_fe``, ``neg_fe``: mean free energy of the positive (data) and negative (Gibbs)
      samples of the updates since the previous evaluation — CD's update is the gradient of
      ``pos_fe − neg_fe`` with the samples held fixed; ``nan`` at epoch 0 (no update yet).
    """

    epoch: list = field(default_factory=list)
    train_ll: list = field(default_factory=list)
    test_ll: list = field(default_factory=list)
    recon: list = field(default_factory=list)
    log_z: list = field(default_factory=list)
    train_fe: list = field(default_factory=list)
    test_fe: list = field(default_factory=list)
    pos_fe: list = field(default_factory=list)
    neg_fe: list = field(default_factory=list)


def _free_energy(rbm: RBM, v: torch.Tensor) -> torch.Tensor:
    """F(v) of :meth:`RBM.free_energy` without the input checks (used by it and by the training loop)."""
    return -v @ rbm.b - F.softplus(v @ rbm.W + rbm.c).sum(1)


@checked(rbm=Instance(RBM), X=BINARY, method=OneOf(("cd", "pcd")), k=COUNT, lr=POSITIVE, epochs=Int(0), batch_size=COUNT,
         X_test=Binary(ndim=2, optional=True), eval_every=Int(0), n_chains=Int(1, optional=True))
def train_rbm(rbm: RBM, X, *, method: str = "cd", k: int = 1, lr: float = 0.05, epochs: int = 10,
              batch_size: int = 20, X_test=None, eval_every: int = 1, n_chains: int | None = None,
              generator: torch.Generator | None = None) -> RBMHistory:
    """Train ``rbm`` on binary data ``X`` (N, n_visible) with CD-k (``method="cd"``) or persistent CD (``"pcd"``).

    For every mini-batch: positive phase ⟨v hᵀ⟩ with h = p(h|v_data); negative phase from
    k block-Gibbs steps started at the data (CD) or at persistent fantasy chains (PCD);
    W += lr (⟨v hᵀ⟩_data − ⟨v hᵀ⟩_model), and likewise for b and c.
    With ``eval_every > 0`` and an RBM small enough, records the exact log-likelihood, log Z and
    the free energies of :class:`RBMHistory` every ``eval_every`` epochs. Every random draw
    (minibatch order, Gibbs steps, the reconstruction error) uses ``generator`` when one is given.
    """
    X = rbm._v(X, "X")
    X_test = None if X_test is None else rbm._v(X_test, "X_test")
    n_chains = batch_size if n_chains is None else n_chains
    p_h, gibbs_step, free_energy = RBM.p_h.unchecked, RBM.gibbs_step.unchecked, RBM.free_energy.unchecked  # input checked above
    hist = RBMHistory()
    can_eval = eval_every > 0 and min(rbm.n_visible, rbm.n_hidden) <= MAX_ENUM

    fe_sums = [0.0, 0.0, 0]                                 # Σ F(v_data), Σ F(v_k), number of rows

    def record(ep):
        hist.epoch.append(ep)
        logz = float(rbm.log_partition())
        with torch.no_grad():
            fe_train = float(free_energy(rbm, X).mean())
            hist.train_ll.append(-fe_train - logz)
            hist.train_fe.append(fe_train)
            if X_test is not None:
                fe_test = float(free_energy(rbm, X_test).mean())
                hist.test_ll.append(-fe_test - logz)
                hist.test_fe.append(fe_test)
        hist.log_z.append(logz)
        n = fe_sums[2]
        hist.pos_fe.append(float(fe_sums[0]) / n if n else math.nan)
        hist.neg_fe.append(float(fe_sums[1]) / n if n else math.nan)
        fe_sums[:] = [0.0, 0.0, 0]
        hist.recon.append(RBM.reconstruction_error.unchecked(rbm, X, generator))

    if can_eval:
        record(0)
    fantasy = torch.bernoulli(torch.full((n_chains, rbm.n_visible), 0.5, device=X.device, dtype=X.dtype),
                              generator=generator)
    with torch.no_grad():
        for ep in range(1, epochs + 1):
            perm = torch.randperm(len(X), generator=generator).to(X.device)
            for start in range(0, len(X), batch_size):
                v0 = X[perm[start:start + batch_size]]
                ph0 = p_h(rbm, v0)                          # positive phase
                vk = v0 if method == "cd" else fantasy
                for _ in range(k):                          # negative phase: k block-Gibbs steps
                    vk, _ = gibbs_step(rbm, vk, generator)
                if method == "pcd":
                    fantasy = vk
                phk = p_h(rbm, vk)
                if can_eval:                                # free energies before the update
                    fe_sums[0] = fe_sums[0] + _free_energy(rbm, v0).sum()
                    fe_sums[1] = fe_sums[1] + _free_energy(rbm, vk).mean() * len(v0)
                    fe_sums[2] += len(v0)
                rbm.W += lr * (v0.T @ ph0 / len(v0) - vk.T @ phk / len(vk))
                rbm.b += lr * (v0.mean(0) - vk.mean(0))
                rbm.c += lr * (ph0.mean(0) - phk.mean(0))
            if can_eval and ep % eval_every == 0:
                record(ep)
    return hist


# ----------------------------------------------------------------------------- DBN
class DBN(nn.Module):
    """A two-hidden-layer deep belief network v ← h1 = h2.

    The top two layers form an undirected RBM ``top`` (h1 ↔ h2); the bottom layer
    is a directed sigmoid belief net with generative weights ``G`` (n_h1, n_visible),
    bias ``gb``: p(v_i = 1 | h1) = σ(gb_i + h1ᵀ G_:i). Recognition weights ``R``
    (n_visible, n_h1), bias ``rc``: q(h1_j = 1 | v) = σ(rc_j + vᵀ R_:j).
    After greedy pretraining G = Wᵀ-tied copies of the first RBM (``from_rbms``);
    wake-sleep unties them.
    """

    @checked(rbm1=Instance(RBM), rbm2=Instance(RBM))
    def __init__(self, rbm1: RBM, rbm2: RBM):
        super().__init__()
        if rbm2.n_visible != rbm1.n_hidden:
            raise ValueError(f"rbm2 must have n_visible == rbm1.n_hidden = {rbm1.n_hidden}, got {rbm2.n_visible}")
        self.G = nn.Parameter(rbm1.W.detach().T.clone())
        self.gb = nn.Parameter(rbm1.b.detach().clone())
        self.R = nn.Parameter(rbm1.W.detach().clone())
        self.rc = nn.Parameter(rbm1.c.detach().clone())
        self.top = rbm2

    @property
    def n_visible(self) -> int:
        return self.G.shape[1]

    @checked(v=BINARY)
    def q_h1(self, v) -> torch.Tensor:
        """Recognition (up) pass q(h1 = 1 | v), shape (B, n_h1)."""
        return torch.sigmoid(_units("v", v, self.n_visible).to(self.G) @ self.R + self.rc)

    @checked(h1=BINARY)
    def p_v(self, h1) -> torch.Tensor:
        """Generative (down) pass p(v = 1 | h1), shape (B, n_visible)."""
        return torch.sigmoid(_units("h1", h1, self.G.shape[0]).to(self.G) @ self.G + self.gb)

    @checked(v=BINARY)
    def log_likelihood(self, v) -> float:
        """Mean exact log p(v) = log Σ_h1 p(v|h1) p_top(h1), enumerating all h1 (needs n_h1 ≤ 20)."""
        v = _units("v", v, self.n_visible).to(self.G)
        n_h1 = self.G.shape[0]
        if n_h1 > 20:
            raise ValueError(f"exact DBN log-likelihood needs at most 20 units in h1, got {n_h1}")
        with torch.no_grad():
            h1 = all_binary_states(n_h1, device=self.G.device, dtype=self.G.dtype)
            log_prior = -RBM.free_energy.unchecked(self.top, h1) - self.top.log_partition()       # (2^n_h1,)
            a = h1 @ self.G + self.gb                                              # (2^n_h1, n_visible)
            log_lik = v @ a.T - F.softplus(a).sum(1)                               # (B, 2^n_h1)
            return float(torch.logsumexp(log_lik + log_prior, 1).mean())

    @checked(n=COUNT, n_gibbs=COUNT)
    def sample(self, n: int, n_gibbs: int = 200, generator: torch.Generator | None = None) -> torch.Tensor:
        """Top-down sampling: run the top RBM's Gibbs chain, then one directed pass to v. Returns p(v|h1) (n, n_visible)."""
        h1 = torch.bernoulli(torch.full((n, self.top.n_visible), 0.5, device=self.G.device, dtype=self.G.dtype),
                             generator=generator)
        with torch.no_grad():
            for _ in range(n_gibbs):
                h1, _ = RBM.gibbs_step.unchecked(self.top, h1, generator)
            return DBN.p_v.unchecked(self, h1)


@checked(dbn=Instance(DBN), X=BINARY, lr=POSITIVE, epochs=Int(0), batch_size=COUNT, k=COUNT)
def wake_sleep(dbn: DBN, X, *, lr: float = 0.01, epochs: int = 5, batch_size: int = 20, k: int = 5,
               generator: torch.Generator | None = None) -> None:
    """Fine-tune ``dbn`` with the (unsupervised) wake-sleep / up-down algorithm.

    Wake phase: h1 ~ q(h1|v) on data; update generative weights G toward v (delta rule
    G += lr h1ᵀ (v − p(v|h1))); update the top RBM with CD-k on those h1.
    Sleep phase: the top RBM's negative-phase h1 generates a fantasy v ~ p(v|h1);
    update recognition weights R += lr vᵀ (h1 − q(h1|v)).
    """
    X = _units("X", X, dbn.n_visible).to(dbn.G)
    top = dbn.top
    q_h1, p_v, p_h, gibbs_step = DBN.q_h1.unchecked, DBN.p_v.unchecked, RBM.p_h.unchecked, RBM.gibbs_step.unchecked
    with torch.no_grad():
        for _ in range(epochs):
            perm = torch.randperm(len(X), generator=generator).to(X.device)
            for start in range(0, len(X), batch_size):
                v = X[perm[start:start + batch_size]]
                m = len(v)
                # wake: recognise, then learn to generate what was recognised
                h1 = torch.bernoulli(q_h1(dbn, v), generator=generator)
                dbn.G += lr * h1.T @ (v - p_v(dbn, h1)) / m
                dbn.gb += lr * (v - p_v(dbn, h1)).mean(0)
                # top RBM: CD-k on the recognised h1
                ph2 = p_h(top, h1)
                hk = h1
                for _ in range(k):
                    hk, _ = gibbs_step(top, hk, generator)
                phk = p_h(top, hk)
                top.W += lr * (h1.T @ ph2 - hk.T @ phk) / m
                top.b += lr * (h1 - hk).mean(0)
                top.c += lr * (ph2 - phk).mean(0)
                # sleep: dream a v from the model's h1, learn to recognise it
                v_dream = torch.bernoulli(p_v(dbn, hk), generator=generator)
                q = q_h1(dbn, v_dream)
                dbn.R += lr * v_dream.T @ (hk - q) / m
                dbn.rc += lr * (hk - q).mean(0)


# ----------------------------------------------------------------------------- exercises
def _ref_free_energy(W, b, c, v):
    return -v @ b - F.softplus(v @ W + c).sum(-1)


def _wrong_free_energy_relu(W, b, c, v):
    return -v @ b - torch.relu(v @ W + c).sum(-1)


def _wrong_free_energy_sign(W, b, c, v):
    return v @ b + F.softplus(v @ W + c).sum(-1)


def _small_rbm_params(seed, nv=6, nh=4):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(nv, nh, generator=g, dtype=torch.float64)
    b = torch.randn(nv, generator=g, dtype=torch.float64)
    c = torch.randn(nh, generator=g, dtype=torch.float64)
    return W, b, c, g


@exercise("rbm.free_energy", reference=_ref_free_energy, wrong=[_wrong_free_energy_relu, _wrong_free_energy_sign],
          hint="F(v) = −bᵀv − Σ_j softplus(c_j + vᵀW_:j); sum out each binary h_j: log(1 + e^x) = softplus(x).")
def _check_free_energy(func):
    W, b, c, g = _small_rbm_params(0)
    v = (torch.rand(5, 6, generator=g) < 0.5).double()
    h = all_binary_states(4, dtype=torch.float64)
    # brute force: F(v) = −log Σ_h exp(−E(v,h))
    negE = (v @ W) @ h.T + (v @ b)[:, None] + (h @ c)[None, :]
    expect_close(func(W, b, c, v), -torch.logsumexp(negE, 1), "F(v) against −log Σ_h exp(−E(v,h)) for 5 states v")


def _ref_gibbs_probs(W, b, c, v):
    ph = torch.sigmoid(v @ W + c)
    return ph, torch.sigmoid(ph @ W.T + b)


def _wrong_gibbs_probs_bias(W, b, c, v):
    ph = torch.sigmoid(v @ W)
    return ph, torch.sigmoid(ph @ W.T + b)


def _wrong_gibbs_probs_transpose(W, b, c, v):
    ph = torch.sigmoid(v @ W + c)
    return ph, torch.sigmoid(ph @ W.T)


@exercise("rbm.gibbs_probs", reference=_ref_gibbs_probs, wrong=[_wrong_gibbs_probs_bias, _wrong_gibbs_probs_transpose],
          hint="p(h=1|v) = σ(vW + c) (shape (B, n_hidden)); then the mean-field half-step p(v=1|h) = σ(p_h Wᵀ + b).")
def _check_gibbs_probs(func):
    W, b, c, g = _small_rbm_params(1)
    v = (torch.rand(3, 6, generator=g) < 0.5).double()
    out = func(W, b, c, v)
    if not isinstance(out, tuple) or len(out) != 2:
        raise AssertionError("return a pair (p_h, p_v)")
    ph, pv = out
    _, want_pv = _ref_gibbs_probs(W, b, c, v)
    # independent check of p(h_j=1|v) by enumeration: p(h|v) ∝ exp(−E(v,h))
    h = all_binary_states(4, dtype=torch.float64)
    post = torch.softmax((v @ W) @ h.T + (h @ c)[None, :], 1)
    expect_close(ph, post @ h, "p(h=1|v) against enumeration of p(h|v) ∝ exp(−E(v,h))")
    expect_close(pv, want_pv, "p(v=1|h) with h set to p(h=1|v)")


def _ref_log_z(W, b, c):
    h = all_binary_states(W.shape[1], dtype=W.dtype)
    return torch.logsumexp(h @ c + F.softplus(h @ W.T + b).sum(1), 0)


def _wrong_log_z_no_bias(W, b, c):
    h = all_binary_states(W.shape[1], dtype=W.dtype)
    return torch.logsumexp(F.softplus(h @ W.T + b).sum(1), 0)


def _wrong_log_z_max(W, b, c):
    h = all_binary_states(W.shape[1], dtype=W.dtype)
    return (h @ c + F.softplus(h @ W.T + b).sum(1)).max()


@exercise("rbm.log_partition", reference=_ref_log_z, wrong=[_wrong_log_z_no_bias, _wrong_log_z_max],
          hint="Sum v out analytically for each of the 2^n_hidden states h: log Z = logsumexp_h [cᵀh + Σ_i softplus(b_i + W_i:h)].")
def _check_log_z(func):
    W, b, c, _ = _small_rbm_params(2, nv=5, nh=3)
    v = all_binary_states(5, dtype=torch.float64)
    h = all_binary_states(3, dtype=torch.float64)
    negE = (v @ W) @ h.T + (v @ b)[:, None] + (h @ c)[None, :]
    expect_close(func(W, b, c), torch.logsumexp(negE.flatten(), 0), "log Z against the sum over all 2^5 × 2^3 pairs (v, h)")
    W, b, c, _ = _small_rbm_params(3, nv=20, nh=8)
    expect_close(func(W * 3, b, c), _ref_log_z(W * 3, b, c), "a 20×8 RBM with large weights (use logsumexp, not log(sum(exp)))")
