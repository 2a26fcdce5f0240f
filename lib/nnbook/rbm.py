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
from nnbook.validate import check_choice, check_float, check_int, check_tensor

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
    if n_units is not None and t.shape[-1] != n_units:
        raise ValueError(f"{name} must have {n_units} units in its last dimension, got shape {tuple(t.shape)}")
    return t


def _check_temperature(T) -> float:
    return check_float("T", T, min_value=0.0, min_inclusive=False)


def _check_bm(W, b) -> tuple[torch.Tensor, torch.Tensor]:
    W = check_tensor("W", W, ndim=2)
    n = W.shape[0]
    if W.shape != (n, n):
        raise ValueError(f"W must be square (n, n), got shape {tuple(W.shape)}")
    if not W.is_floating_point():
        W = W.to(torch.get_default_dtype())
    if not torch.allclose(W, W.T):
        raise ValueError("W must be symmetric (W[i, j] == W[j, i]): a Boltzmann machine's connections are undirected")
    if bool((W.diagonal() != 0).any()):
        raise ValueError("W must have a zero diagonal (no self-connections)")
    b = check_tensor("b", b, shape=(n,)).to(W.dtype).to(W.device)
    return W, b


def all_binary_states(n: int, *, device=None, dtype=None) -> torch.Tensor:
    """All ``2^n`` binary vectors as a ``(2^n, n)`` tensor, row ``k`` = binary digits of ``k`` (MSB first)."""
    n = check_int("n", n, min_value=1, max_value=MAX_ENUM)
    k = torch.arange(2**n, device=device)
    bits = 2 ** torch.arange(n - 1, -1, -1, device=device)
    return ((k[:, None] & bits) > 0).to(dtype or torch.get_default_dtype())


# ----------------------------------------------------------------------------- fully connected BM
def bm_energy(W, b, s) -> torch.Tensor:
    """E(s) = −½ sᵀ W s − bᵀ s for states ``s`` of shape ``(B, n)`` (or ``(n,)``); returns ``(B,)`` (or ``()``)."""
    W, b = _check_bm(W, b)
    s = check_binary("s", s, ndim=(1, 2), n_units=W.shape[0]).to(W)
    return -0.5 * ((s @ W) * s).sum(-1) - s @ b


def boltzmann_distribution(W, b, T: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact p(s) = exp(−E(s)/T)/Z by enumeration. Returns ``(states (2^n, n), probs (2^n,))``."""
    W, b = _check_bm(W, b)
    T = _check_temperature(T)
    if W.shape[0] > MAX_ENUM:
        raise ValueError(f"W has {W.shape[0]} units; enumeration needs at most {MAX_ENUM}")
    states = all_binary_states(W.shape[0], device=W.device, dtype=W.dtype)
    return states, torch.softmax(-bm_energy(W, b, states) / T, dim=0)


def bm_gibbs(W, b, n_sweeps: int, *, T: float = 1.0, n_chains: int = 1, s0=None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Sequential Gibbs sampling of a Boltzmann machine.

    Each sweep visits units ``0..n−1`` in turn and resamples
    s_i ~ Bernoulli(σ((W_i · s + b_i)/T)) using the newest values of the others.
    Runs ``n_chains`` independent chains in parallel (or the rows of ``s0``).
    Returns the states after every sweep, shape ``(n_sweeps, n_chains, n)``.
    """
    W, b = _check_bm(W, b)
    T = _check_temperature(T)
    n_sweeps = check_int("n_sweeps", n_sweeps, min_value=1)
    n = W.shape[0]
    if s0 is None:
        n_chains = check_int("n_chains", n_chains, min_value=1)
        s = (torch.rand(n_chains, n, device=W.device, generator=generator) < 0.5).to(W.dtype)
    else:
        s = check_binary("s0", s0, ndim=2, n_units=n).to(W).clone()
    out = torch.empty(n_sweeps, s.shape[0], n, device=W.device, dtype=W.dtype)
    for t in range(n_sweeps):
        for i in range(n):
            p_on = torch.sigmoid((s @ W[i] + b[i]) / T)
            s[:, i] = (torch.rand(s.shape[0], device=W.device, generator=generator, dtype=W.dtype) < p_on).to(W.dtype)
        out[t] = s
    return out


def empirical_distribution(samples) -> torch.Tensor:
    """Frequencies of the ``2^n`` states in ``samples`` ``(..., n)``, in the order of :func:`all_binary_states`."""
    s = check_binary("samples", samples, ndim=(2, 3))
    s = s.reshape(-1, s.shape[-1])
    n = s.shape[1]
    if n > MAX_ENUM:
        raise ValueError(f"samples have {n} units; at most {MAX_ENUM} can be tabulated")
    bits = 2 ** torch.arange(n - 1, -1, -1, device=s.device)
    idx = (s.long() * bits).sum(1)
    return torch.bincount(idx, minlength=2**n).to(s.dtype) / len(idx)


def total_variation(p, q) -> float:
    """Total variation distance ½ Σ |p − q| between two distributions on the same states."""
    p = check_tensor("p", p, ndim=1)
    q = check_tensor("q", q, shape=(p.shape[0],)).to(p)
    return 0.5 * float((p - q).abs().sum())


# ----------------------------------------------------------------------------- RBM
class RBM(nn.Module):
    """A restricted Boltzmann machine with binary visible and hidden units.

    Parameters: ``W`` (n_visible, n_hidden), visible bias ``b`` (n_visible,),
    hidden bias ``c`` (n_hidden,). Energy E(v, h) = −vᵀ W h − bᵀ v − cᵀ h.
    """

    def __init__(self, n_visible: int, n_hidden: int, *, init_std: float = 0.01,
                 generator: torch.Generator | None = None):
        super().__init__()
        n_visible = check_int("n_visible", n_visible, min_value=1)
        n_hidden = check_int("n_hidden", n_hidden, min_value=1)
        init_std = check_float("init_std", init_std, min_value=0.0)
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

    def _v(self, v, name="v"):
        return check_binary(name, v, ndim=2, n_units=self.n_visible).to(self.W)

    def _h(self, h, name="h"):
        return check_binary(name, h, ndim=2, n_units=self.n_hidden).to(self.W)

    # -- the equations
    def energy(self, v, h) -> torch.Tensor:
        """E(v, h) = −vᵀ W h − bᵀ v − cᵀ h, for ``v`` (B, n_visible), ``h`` (B, n_hidden); returns (B,)."""
        v, h = self._v(v), self._h(h)
        if v.shape[0] != h.shape[0]:
            raise ValueError(f"v and h must have the same batch size, got {v.shape[0]} and {h.shape[0]}")
        return -((v @ self.W) * h).sum(1) - v @ self.b - h @ self.c

    def free_energy(self, v) -> torch.Tensor:
        """F(v) = −bᵀ v − Σ_j softplus(c_j + vᵀ W_:j), so that p(v) = exp(−F(v))/Z; returns (B,)."""
        return _free_energy(self, self._v(v))

    def p_h(self, v) -> torch.Tensor:
        """p(h_j = 1 | v) = σ(c_j + vᵀ W_:j), shape (B, n_hidden)."""
        return torch.sigmoid(self._v(v) @ self.W + self.c)

    def p_v(self, h) -> torch.Tensor:
        """p(v_i = 1 | h) = σ(b_i + W_i: h), shape (B, n_visible)."""
        return torch.sigmoid(self._h(h) @ self.W.T + self.b)

    def gibbs_step(self, v, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One block-Gibbs step v → h ~ p(h|v) → v' ~ p(v|h). Returns ``(v', h)``."""
        ph = self.p_h(v)
        h = torch.bernoulli(ph, generator=generator)
        v_new = torch.bernoulli(self.p_v(h), generator=generator)
        return v_new, h

    def sample(self, n_steps: int, v0, generator: torch.Generator | None = None, every: int = 0) -> torch.Tensor:
        """Run block Gibbs for ``n_steps`` from ``v0``; returns p(v|h) of the last step (B, n_visible).

        With ``every > 0`` returns the mean images p(v|h) every ``every`` steps, shape (n_steps // every, B, n_visible).
        """
        n_steps = check_int("n_steps", n_steps, min_value=1)
        every = check_int("every", every, min_value=0)
        v = self._v(v0, "v0")
        frames = []
        with torch.no_grad():
            for t in range(1, n_steps + 1):
                h = torch.bernoulli(self.p_h(v), generator=generator)
                mean = self.p_v(h)
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
            return torch.logsumexp(-self.free_energy(v), 0)

    def log_likelihood(self, v) -> float:
        """Mean exact log p(v) = −F(v) − log Z over the rows of ``v``, in nats."""
        with torch.no_grad():
            return float((-self.free_energy(v)).mean() - self.log_partition())

    def reconstruction_error(self, v, generator: torch.Generator | None = None) -> float:
        """Mean squared error ‖v − p(v|h)‖²/n_visible with h ~ p(h|v): what CD's users often monitor."""
        v = self._v(v)
        with torch.no_grad():
            h = torch.bernoulli(self.p_h(v), generator=generator)
            return float(((v - self.p_v(h)) ** 2).mean())


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
    if not isinstance(rbm, RBM):
        raise TypeError(f"rbm must be an RBM, got {type(rbm).__name__}")
    X = rbm._v(X, "X")
    method = check_choice("method", method, ["cd", "pcd"])
    k = check_int("k", k, min_value=1)
    lr = check_float("lr", lr, min_value=0.0, min_inclusive=False)
    epochs = check_int("epochs", epochs, min_value=0)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    eval_every = check_int("eval_every", eval_every, min_value=0)
    if X_test is not None:
        X_test = rbm._v(X_test, "X_test")
    n_chains = batch_size if n_chains is None else check_int("n_chains", n_chains, min_value=1)
    hist = RBMHistory()
    can_eval = eval_every > 0 and min(rbm.n_visible, rbm.n_hidden) <= MAX_ENUM

    fe_sums = [0.0, 0.0, 0]                                 # Σ F(v_data), Σ F(v_k), number of rows

    def record(ep):
        hist.epoch.append(ep)
        logz = float(rbm.log_partition())
        with torch.no_grad():
            fe_train = float(rbm.free_energy(X).mean())
            hist.train_ll.append(-fe_train - logz)
            hist.train_fe.append(fe_train)
            if X_test is not None:
                fe_test = float(rbm.free_energy(X_test).mean())
                hist.test_ll.append(-fe_test - logz)
                hist.test_fe.append(fe_test)
        hist.log_z.append(logz)
        n = fe_sums[2]
        hist.pos_fe.append(float(fe_sums[0]) / n if n else math.nan)
        hist.neg_fe.append(float(fe_sums[1]) / n if n else math.nan)
        fe_sums[:] = [0.0, 0.0, 0]
        hist.recon.append(rbm.reconstruction_error(X, generator))

    if can_eval:
        record(0)
    fantasy = torch.bernoulli(torch.full((n_chains, rbm.n_visible), 0.5, device=X.device, dtype=X.dtype),
                              generator=generator)
    with torch.no_grad():
        for ep in range(1, epochs + 1):
            perm = torch.randperm(len(X), generator=generator).to(X.device)
            for start in range(0, len(X), batch_size):
                v0 = X[perm[start:start + batch_size]]
                ph0 = rbm.p_h(v0)                          # positive phase
                vk = v0 if method == "cd" else fantasy
                for _ in range(k):                          # negative phase: k block-Gibbs steps
                    vk, _ = rbm.gibbs_step(vk, generator)
                if method == "pcd":
                    fantasy = vk
                phk = rbm.p_h(vk)
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

    def __init__(self, rbm1: RBM, rbm2: RBM):
        super().__init__()
        if not isinstance(rbm1, RBM) or not isinstance(rbm2, RBM):
            raise TypeError("rbm1 and rbm2 must be RBMs")
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

    def q_h1(self, v) -> torch.Tensor:
        """Recognition (up) pass q(h1 = 1 | v), shape (B, n_h1)."""
        v = check_binary("v", v, ndim=2, n_units=self.n_visible).to(self.G)
        return torch.sigmoid(v @ self.R + self.rc)

    def p_v(self, h1) -> torch.Tensor:
        """Generative (down) pass p(v = 1 | h1), shape (B, n_visible)."""
        h1 = check_binary("h1", h1, ndim=2, n_units=self.G.shape[0]).to(self.G)
        return torch.sigmoid(h1 @ self.G + self.gb)

    def log_likelihood(self, v) -> float:
        """Mean exact log p(v) = log Σ_h1 p(v|h1) p_top(h1), enumerating all h1 (needs n_h1 ≤ 20)."""
        v = check_binary("v", v, ndim=2, n_units=self.n_visible).to(self.G)
        n_h1 = self.G.shape[0]
        if n_h1 > 20:
            raise ValueError(f"exact DBN log-likelihood needs at most 20 units in h1, got {n_h1}")
        with torch.no_grad():
            h1 = all_binary_states(n_h1, device=self.G.device, dtype=self.G.dtype)
            log_prior = -self.top.free_energy(h1) - self.top.log_partition()       # (2^n_h1,)
            a = h1 @ self.G + self.gb                                              # (2^n_h1, n_visible)
            log_lik = v @ a.T - F.softplus(a).sum(1)                               # (B, 2^n_h1)
            return float(torch.logsumexp(log_lik + log_prior, 1).mean())

    def sample(self, n: int, n_gibbs: int = 200, generator: torch.Generator | None = None) -> torch.Tensor:
        """Top-down sampling: run the top RBM's Gibbs chain, then one directed pass to v. Returns p(v|h1) (n, n_visible)."""
        n = check_int("n", n, min_value=1)
        n_gibbs = check_int("n_gibbs", n_gibbs, min_value=1)
        h1 = torch.bernoulli(torch.full((n, self.top.n_visible), 0.5, device=self.G.device, dtype=self.G.dtype),
                             generator=generator)
        with torch.no_grad():
            for _ in range(n_gibbs):
                h1, _ = self.top.gibbs_step(h1, generator)
            return self.p_v(h1)


def wake_sleep(dbn: DBN, X, *, lr: float = 0.01, epochs: int = 5, batch_size: int = 20, k: int = 5,
               generator: torch.Generator | None = None) -> None:
    """Fine-tune ``dbn`` with the (unsupervised) wake-sleep / up-down algorithm.

    Wake phase: h1 ~ q(h1|v) on data; update generative weights G toward v (delta rule
    G += lr h1ᵀ (v − p(v|h1))); update the top RBM with CD-k on those h1.
    Sleep phase: the top RBM's negative-phase h1 generates a fantasy v ~ p(v|h1);
    update recognition weights R += lr vᵀ (h1 − q(h1|v)).
    """
    if not isinstance(dbn, DBN):
        raise TypeError(f"dbn must be a DBN, got {type(dbn).__name__}")
    X = check_binary("X", X, ndim=2, n_units=dbn.n_visible).to(dbn.G)
    lr = check_float("lr", lr, min_value=0.0, min_inclusive=False)
    epochs = check_int("epochs", epochs, min_value=0)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    k = check_int("k", k, min_value=1)
    top = dbn.top
    with torch.no_grad():
        for _ in range(epochs):
            perm = torch.randperm(len(X), generator=generator).to(X.device)
            for start in range(0, len(X), batch_size):
                v = X[perm[start:start + batch_size]]
                m = len(v)
                # wake: recognise, then learn to generate what was recognised
                h1 = torch.bernoulli(dbn.q_h1(v), generator=generator)
                dbn.G += lr * h1.T @ (v - dbn.p_v(h1)) / m
                dbn.gb += lr * (v - dbn.p_v(h1)).mean(0)
                # top RBM: CD-k on the recognised h1
                ph2 = top.p_h(h1)
                hk = h1
                for _ in range(k):
                    hk, _ = top.gibbs_step(hk, generator)
                phk = top.p_h(hk)
                top.W += lr * (h1.T @ ph2 - hk.T @ phk) / m
                top.b += lr * (h1 - hk).mean(0)
                top.c += lr * (ph2 - phk).mean(0)
                # sleep: dream a v from the model's h1, learn to recognise it
                v_dream = torch.bernoulli(dbn.p_v(hk), generator=generator)
                q = dbn.q_h1(v_dream)
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
