"""Recurrent networks and back-propagation through time (chapter 7).

Shapes are batch-first throughout: a sequence batch ``x`` is ``(B, T, I)``
(batch, time, input features) and hidden states are ``(B, T, H)``.

The vanilla (Elman) recurrence is

    a_t = x_t W_xhᵀ + h_{t-1} W_hhᵀ + b,        h_t = f(a_t),

and back-propagation through time (BPTT) runs the chain rule backwards over
the unrolled loop:

    δ_t = (g_t + δ_{t+1} W_hh) ⊙ f'(a_t),      g_t = ∂L/∂h_t (direct part)
    ∂L/∂W_hh = Σ_t δ_tᵀ h_{t-1},  ∂L/∂W_xh = Σ_t δ_tᵀ x_t,  ∂L/∂b = Σ_t δ_t.

Besides the hand-written forward/backward this module has the four training
tricks of the notes (truncated BPTT, gradient clipping, layer normalisation,
variational dropout), hand-written LSTM and GRU steps that match
``torch.nn.LSTMCell``/``GRUCell``, parameter-count formulas, and the losses of two
tasks trained in :func:`nnbook.train.train_steps` (with optional clipping).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from nnbook.exercises import CheckFailed, exercise, expect_close, expect_equal
from nnbook.train import train_steps
from nnbook.validate import COUNT, NONNEGATIVE, POSITIVE, SEED, Float, Instance, Int, OneOf, Tensor, checked

__all__ = [
    "rnn_forward",
    "rnn_bptt",
    "jacobian_norms",
    "scaled_orthogonal",
    "clip_grad_norm",
    "layer_norm",
    "variational_mask",
    "ElmanRNN",
    "GatedRegressor",
    "lstm_step",
    "gru_step",
    "rnn_param_count",
    "lstm_param_count",
    "gru_param_count",
    "TrainResult",
    "train_regressor",
    "train_token_classifier",
    "token_accuracy",
]

# --------------------------------------------------------------------- checks
@dataclass(frozen=True)
class Sequences(Tensor):
    """The rule for a batch of sequences ``(B, T, I)`` of floats."""

    ndim: int = 3

    def check(self, name, value):
        x = super().check(name, value)
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor of shape (B, T, I), got dtype {x.dtype}")
        return x


SEQUENCES, MATRIX, VECTOR, STATE = Sequences(), Tensor(ndim=2), Tensor(ndim=1), Tensor(ndim=2, optional=True)
NONLINEARITY = OneOf(("tanh", "linear"))
DROPOUT = Float(0.0, 1.0, hi_open=True)
CLIP = Float(0.0, lo_open=True, optional=True)
TOKENS = Tensor(ndim=2)


def _weights(x, W_xh, W_hh, b):
    H = W_hh.shape[0]
    if W_hh.shape != (H, H):
        raise ValueError(f"W_hh must be square (H, H), got shape {tuple(W_hh.shape)}")
    if W_xh.shape != (H, x.shape[2]):
        raise ValueError(
            f"W_xh must have shape (H, I) = ({H}, {x.shape[2]}) to match W_hh and x, got {tuple(W_xh.shape)}"
        )
    if b.shape[0] != H:
        raise ValueError(f"b must have shape (H,) = ({H},) to match W_hh, got {tuple(b.shape)}")


def _h0(h0, x, H):
    if h0 is None:
        return x.new_zeros(x.shape[0], H)
    if h0.shape != (x.shape[0], H):
        raise ValueError(f"h0 must have shape (B, H) = ({x.shape[0]}, {H}), got {tuple(h0.shape)}")
    return h0


# ------------------------------------------------------------ forward and BPTT
@checked(x=SEQUENCES, W_xh=MATRIX, W_hh=MATRIX, b=VECTOR, h0=STATE, nonlinearity=NONLINEARITY)
def rnn_forward(x, W_xh, W_hh, b, h0=None, nonlinearity: str = "tanh"):
    """Run the Elman recurrence with an explicit loop over time.

    ``x (B, T, I)``, ``W_xh (H, I)``, ``W_hh (H, H)``, ``b (H,)``, ``h0 (B, H)``
    (zeros if ``None``). Returns the hidden states ``(B, T, H)``:
    ``h_t = f(x_t W_xhᵀ + h_{t-1} W_hhᵀ + b)`` with ``f`` = tanh or identity.
    """
    _weights(x, W_xh, W_hh, b)
    h = _h0(h0, x, W_hh.shape[0])
    states = []
    for t in range(x.shape[1]):
        a = x[:, t] @ W_xh.T + h @ W_hh.T + b
        h = torch.tanh(a) if nonlinearity == "tanh" else a
        states.append(h)
    return torch.stack(states, dim=1)


@checked(x=SEQUENCES, hs=Tensor(ndim=3), grad_hs=Tensor(ndim=3), W_xh=MATRIX, W_hh=MATRIX, b=VECTOR, h0=STATE,
         nonlinearity=NONLINEARITY)
def rnn_bptt(x, hs, grad_hs, W_xh, W_hh, b, h0=None, nonlinearity: str = "tanh"):
    """Back-propagation through time for :func:`rnn_forward`, by hand.

    ``hs (B, T, H)`` are the forward's hidden states and ``grad_hs (B, T, H)``
    the direct gradient ``g_t = ∂L/∂h_t`` of the loss with respect to each
    state (zero where the loss does not read it). Returns a dict with
    ``W_xh``, ``W_hh``, ``b`` and ``h0``: the gradients of ``L``.
    The loop runs backwards, ``δ_t = (g_t + δ_{t+1} W_hh) ⊙ f'(a_t)``.
    """
    _weights(x, W_xh, W_hh, b)
    B, T, _ = x.shape
    H = W_hh.shape[0]
    for name, v in (("hs", hs), ("grad_hs", grad_hs)):
        if v.shape != (B, T, H):
            raise ValueError(f"{name} must have shape (B, T, H) = ({B}, {T}, {H}), got {tuple(v.shape)}")
    h0 = _h0(h0, x, H)
    dW_xh, dW_hh, db = torch.zeros_like(W_xh), torch.zeros_like(W_hh), torch.zeros_like(b)
    carry = torch.zeros_like(h0)  # ∂L/∂h_t arriving from step t+1
    for t in reversed(range(T)):
        dh = grad_hs[:, t] + carry
        fprime = 1 - hs[:, t] ** 2 if nonlinearity == "tanh" else torch.ones_like(dh)
        delta = dh * fprime  # ∂L/∂a_t
        h_prev = hs[:, t - 1] if t > 0 else h0
        dW_xh += delta.T @ x[:, t]
        dW_hh += delta.T @ h_prev
        db += delta.sum(0)
        carry = delta @ W_hh  # ∂L/∂h_{t-1} through the recurrence
    return {"W_xh": dW_xh, "W_hh": dW_hh, "b": db, "h0": carry}


@checked(W_hh=MATRIX, hs=MATRIX, nonlinearity=NONLINEARITY)
def jacobian_norms(W_hh, hs, nonlinearity: str = "tanh"):
    """Spectral norms ``‖∂h_T/∂h_{T-k}‖₂`` for ``k = 0 … T-1`` along one trajectory.

    ``hs (T, H)`` are the hidden states of one sequence. The Jacobian of one
    step is ``D_t W_hh`` with ``D_t = diag f'(a_t)`` (``1 - h_t²`` for tanh,
    identity for linear); the product is accumulated from the end backwards.
    Entry ``k = 0`` is 1 (the identity).
    """
    H = W_hh.shape[0]
    if W_hh.shape != (H, H):
        raise ValueError(f"W_hh must be square (H, H), got shape {tuple(W_hh.shape)}")
    if hs.shape[1] != H:
        raise ValueError(f"hs must have shape (T, H) with H = {H} to match W_hh, got {tuple(hs.shape)}")
    T = hs.shape[0]
    J = torch.eye(H, dtype=W_hh.dtype, device=W_hh.device)
    norms = [1.0]
    for t in range(T - 1, 0, -1):  # ∂h_t/∂h_{t-1} = D_t W_hh
        d = 1 - hs[t] ** 2 if nonlinearity == "tanh" else torch.ones(H, dtype=W_hh.dtype, device=W_hh.device)
        J = J @ (d[:, None] * W_hh)
        norms.append(float(torch.linalg.matrix_norm(J, ord=2)))
    return torch.tensor(norms, dtype=W_hh.dtype)


@checked(n=COUNT, sigma=NONNEGATIVE)
def scaled_orthogonal(n: int, sigma: float, generator: torch.Generator | None = None, dtype=torch.float64):
    """A random ``n × n`` matrix ``σ Q`` with ``Q`` orthogonal: every singular value equals ``σ``."""
    A = torch.randn(n, n, generator=generator, dtype=dtype)
    Q, R = torch.linalg.qr(A)
    Q = Q * torch.sign(torch.diagonal(R))  # a uniformly random orthogonal matrix
    return sigma * Q


# ------------------------------------------------------------- training tricks
@checked(max_norm=POSITIVE)
def clip_grad_norm(grads, max_norm: float):
    """Clip a list of gradient tensors to total norm at most ``max_norm``.

    If ``‖g‖ > θ`` (``‖g‖`` the Euclidean norm of all entries together), every
    gradient is multiplied by ``θ/‖g‖``; otherwise nothing changes. Returns
    ``(clipped, total_norm)`` with new tensors (the inputs are not modified).
    """
    if isinstance(grads, torch.Tensor):
        grads = [grads]
    if not isinstance(grads, (list, tuple)) or not grads:
        raise TypeError("grads must be a non-empty list of tensors")
    for i, g in enumerate(grads):
        if not isinstance(g, torch.Tensor):
            raise TypeError(f"grads[{i}] must be a tensor, got {type(g).__name__}")
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = min(1.0, max_norm / (float(total) + 1e-12))
    return [g * scale for g in grads], float(total)


@checked(a=Tensor(ndim=(1, 2, 3)), gain=Tensor(ndim=1, optional=True), bias=Tensor(ndim=1, optional=True), eps=POSITIVE)
def layer_norm(a, gain=None, bias=None, eps: float = 1e-5):
    """Layer normalisation over the last dimension (the notes' formula).

    ``(a - μ) / sqrt(σ² + eps) ⊙ g + b`` with ``μ``, ``σ²`` the mean and the
    (biased) variance of the ``C`` features of each row.
    """
    C = a.shape[-1]
    for name, v in (("gain", gain), ("bias", bias)):
        if v is not None and tuple(v.shape) != (C,):
            raise ValueError(f"{name} must have shape ({C},) to match the last dimension of a, got {tuple(v.shape)}")
    mu = a.mean(-1, keepdim=True)
    var = ((a - mu) ** 2).mean(-1, keepdim=True)
    out = (a - mu) / torch.sqrt(var + eps)
    if gain is not None:
        out = out * gain
    if bias is not None:
        out = out + bias
    return out


@checked(batch=COUNT, hidden=COUNT, p=DROPOUT)
def variational_mask(batch: int, hidden: int, p: float, *, device=None, generator=None, dtype=torch.float32):
    """One dropout mask per sequence, ``(B, H)``, to be reused at **every** time step.

    Entries are 0 with probability ``p`` and ``1/(1-p)`` otherwise (inverted
    dropout, so the expected value is 1).
    """
    keep = torch.rand(batch, hidden, generator=generator, device=device, dtype=dtype) >= p
    return keep.to(dtype) / (1 - p)


class ElmanRNN(nn.Module):
    """A vanilla RNN with a linear read-out and the notes' training tricks.

    ``a_t = x_t W_xhᵀ + h_{t-1} W_hhᵀ + b``; with ``layer_norm=True``
    ``h_t = tanh(LN(a_t))`` (gain and bias learnt), else ``h_t = tanh(a_t)``;
    output ``y_t = h_t W_hyᵀ + c``.

    ``dropout`` drops hidden units on the recurrent path ``h_{t-1}``:
    ``dropout_kind="variational"`` samples one mask per sequence and uses it at
    every step; ``"naive"`` samples a fresh mask at every step. Dropout is
    active only in training mode.
    """

    @checked(input_size=COUNT, hidden_size=COUNT, output_size=COUNT, dropout=DROPOUT,
             dropout_kind=OneOf(("variational", "naive")), w_scale=Float(0.0, optional=True))
    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1, *, layer_norm: bool = False,
                 dropout: float = 0.0, dropout_kind: str = "variational", w_scale: float | None = None):
        super().__init__()
        self.input_size, self.hidden_size, self.dropout, self.dropout_kind = input_size, hidden_size, dropout, dropout_kind
        H = self.hidden_size
        k = 1 / math.sqrt(H)
        self.W_xh = nn.Parameter(torch.empty(H, input_size).uniform_(-k, k))
        if w_scale is None:
            self.W_hh = nn.Parameter(torch.empty(H, H).uniform_(-k, k))
        else:  # σ Q: every singular value of W_hh equals w_scale
            self.W_hh = nn.Parameter(scaled_orthogonal.unchecked(H, w_scale, dtype=torch.float32))
        self.b = nn.Parameter(torch.zeros(H))
        self.ln = nn.LayerNorm(H) if layer_norm else None
        self.readout = nn.Linear(H, output_size)
        self.last_masks: list[torch.Tensor] = []  # the recurrent masks of the last forward (for inspection)

    @checked(x=SEQUENCES, detach_every=Int(1, optional=True))
    def forward(self, x, detach_every: int | None = None):
        """``x (B, T, I)`` → outputs ``(B, T, O)``.

        ``detach_every=k`` is truncated BPTT: the hidden state is detached every
        ``k`` steps, so no gradient flows back further than the start of its chunk.
        """
        _check_width(x, self.input_size)
        return self._forward(x, detach_every)

    def _forward(self, x, detach_every=None):
        """The network on checked inputs (what the training loops call at every step)."""
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden_size)
        use_drop = self.training and self.dropout > 0
        mask = variational_mask.unchecked(B, self.hidden_size, self.dropout, device=x.device, dtype=x.dtype) if use_drop else None
        self.last_masks = []
        states = []
        for t in range(T):
            if detach_every is not None and t > 0 and t % detach_every == 0:
                h = h.detach()
            if use_drop:
                if self.dropout_kind == "naive":
                    mask = variational_mask.unchecked(B, self.hidden_size, self.dropout, device=x.device, dtype=x.dtype)
                self.last_masks.append(mask)
                h = h * mask
            a = x[:, t] @ self.W_xh.T + h @ self.W_hh.T + self.b
            h = torch.tanh(self.ln(a) if self.ln is not None else a)
            states.append(h)
        return self.readout(torch.stack(states, dim=1))


class GatedRegressor(nn.Module):
    """``torch.nn.RNN`` / ``LSTM`` / ``GRU`` (batch-first, one layer) + a linear read-out.

    ``kind`` is ``"rnn"``, ``"lstm"`` or ``"gru"``; ``x (B, T, I)`` → outputs ``(B, T, O)``.
    ``forget_bias`` (LSTM only) sets the forget gate's bias, e.g. 1.0 so that the
    cell starts out remembering (``f_t ≈ σ(1) ≈ 0.73``; PyTorch's default gives ≈ 1/2).
    """

    @checked(kind=OneOf(("rnn", "lstm", "gru")), input_size=COUNT, hidden_size=COUNT, output_size=COUNT,
             forget_bias=Float(optional=True))
    def __init__(self, kind: str, input_size: int, hidden_size: int, output_size: int = 1,
                 forget_bias: float | None = None):
        super().__init__()
        self.kind, self.input_size = kind, input_size
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.core = cls(input_size, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, output_size)
        if forget_bias is not None:  # LSTM only: start with f_t = σ(forget_bias) instead of σ(≈0) = 1/2
            if self.kind != "lstm":
                raise ValueError(f"forget_bias applies only to kind='lstm', got kind={kind!r}")
            H = hidden_size
            with torch.no_grad():  # PyTorch's gate order is (i, f, g, o): the forget block is rows H..2H
                self.core.bias_ih_l0[H:2 * H] = forget_bias
                self.core.bias_hh_l0[H:2 * H] = 0.0

    @checked(x=SEQUENCES)
    def forward(self, x, detach_every=None):
        """``x (B, T, I)`` → outputs ``(B, T, O)``."""
        _check_width(x, self.input_size)
        return self._forward(x, detach_every)

    def _forward(self, x, detach_every=None):
        """The network on checked inputs (what the training loops call at every step)."""
        if detach_every is not None:
            raise ValueError("detach_every (truncated BPTT) is implemented only in ElmanRNN")
        out, _ = self.core(x)
        return self.readout(out)


def _check_width(x, input_size):
    if x.shape[2] != input_size:
        raise ValueError(f"x must have {input_size} features in its last dimension, got shape {tuple(x.shape)}")


def _unchecked(model: nn.Module):
    """``model``'s forward without argument checks, for a training loop whose inputs were checked once."""
    return model._forward if isinstance(model, (ElmanRNN, GatedRegressor)) else model


# ------------------------------------------------------------- LSTM and GRU
def _gate_check(x, h, W_ih, W_hh, b_ih, b_hh, n_gates):
    H = h.shape[1]
    if x.shape[0] != h.shape[0]:
        raise ValueError(f"x and h must have the same batch size, got {x.shape[0]} and {h.shape[0]}")
    for name, v, want in (("W_ih", W_ih, (n_gates * H, x.shape[1])), ("W_hh", W_hh, (n_gates * H, H)),
                          ("b_ih", b_ih, (n_gates * H,)), ("b_hh", b_hh, (n_gates * H,))):
        if tuple(v.shape) != want:
            raise ValueError(f"{name} must have shape {want} for {n_gates} gates of width H = {H}, got {tuple(v.shape)}")


GATES = dict(x=MATRIX, h=MATRIX, W_ih=MATRIX, W_hh=MATRIX, b_ih=VECTOR, b_hh=VECTOR)


@checked(**GATES, c=MATRIX)
def lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """One LSTM step in PyTorch's layout (gates stacked as i, f, g, o).

    ``x (B, I)``, ``h, c (B, H)``, ``W_ih (4H, I)``, ``W_hh (4H, H)``, biases ``(4H,)``.
    ``i, f, o = σ(·)``, ``g = tanh(·)``, ``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh(c')``.
    Returns ``(h', c')``.
    """
    _gate_check(x, h, W_ih, W_hh, b_ih, b_hh, 4)
    if c.shape != h.shape:
        raise ValueError(f"c must have the shape of h, {tuple(h.shape)}, got {tuple(c.shape)}")
    z = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, g, o = z.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g  # the cell state: an additive path through time
    return o * torch.tanh(c_new), c_new


@checked(**GATES)
def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    """One GRU step in PyTorch's layout (gates stacked as r, z, n).

    ``r, z = σ(·)``, ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``,
    ``h' = (1 − z) ⊙ n + z ⊙ h``. Returns ``h'``.
    """
    _gate_check(x, h, W_ih, W_hh, b_ih, b_hh, 3)
    xi = x @ W_ih.T + b_ih
    hh = h @ W_hh.T + b_hh
    xr, xz, xn = xi.chunk(3, dim=1)
    hr, hz, hn = hh.chunk(3, dim=1)
    r = torch.sigmoid(xr + hr)  # reset gate
    z = torch.sigmoid(xz + hz)  # update gate
    n = torch.tanh(xn + r * hn)  # candidate state
    return (1 - z) * n + z * h


def _count(n_blocks, I, H, bias):
    return n_blocks * (H * I + H * H + (2 * H if bias else 0))


COUNTS = dict(input_size=COUNT, hidden_size=COUNT, bias=Instance(bool))


@checked(**COUNTS)
def rnn_param_count(input_size: int, hidden_size: int, bias: bool = True) -> int:
    """Parameters of one ``torch.nn.RNN`` layer: ``H·I + H·H + 2H`` (PyTorch keeps two biases)."""
    return _count(1, input_size, hidden_size, bias)


@checked(**COUNTS)
def lstm_param_count(input_size: int, hidden_size: int, bias: bool = True) -> int:
    """Parameters of one ``torch.nn.LSTM`` layer: ``4 (H·I + H·H + 2H)`` — four blocks (i, f, g, o)."""
    return _count(4, input_size, hidden_size, bias)


@checked(**COUNTS)
def gru_param_count(input_size: int, hidden_size: int, bias: bool = True) -> int:
    """Parameters of one ``torch.nn.GRU`` layer: ``3 (H·I + H·H + 2H)`` — three blocks (r, z, n)."""
    return _count(3, input_size, hidden_size, bias)


# ------------------------------------------------------------- training loop
@dataclass
class TrainResult:
    """Loss after every step, the gradient norm before clipping, and the seconds it took."""

    loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    seconds: float = 0.0
    diverged: bool = False


@checked(model=Instance(nn.Module), X=SEQUENCES, y=VECTOR, steps=COUNT, batch_size=COUNT, lr=POSITIVE,
         optimizer=OneOf(("adam", "sgd", "momentum")), clip=CLIP, detach_every=Int(1, optional=True), seed=SEED)
def train_regressor(model: nn.Module, X, y, *, steps: int = 300, batch_size: int = 64, lr: float = 1e-2,
                    optimizer: str = "adam", clip: float | None = None, detach_every: int | None = None,
                    seed: int = 0) -> TrainResult:
    """Train ``model`` to predict ``y (N,)`` from the **last** output of ``model(X)``.

    Minibatch steps on the mean squared error with ``optimizer`` = ``"adam"``,
    ``"sgd"`` or ``"momentum"`` (SGD with momentum 0.9); ``clip=θ`` clips the total
    gradient norm to ``θ`` before every step (``torch.nn.utils.clip_grad_norm_``);
    ``detach_every`` is passed to the model (truncated BPTT). Stops early and
    sets ``diverged`` if the loss becomes NaN/inf or exceeds 1e6.
    """
    device = next(model.parameters()).device
    X, y = X.to(device), y.to(device)
    if isinstance(model, (ElmanRNN, GatedRegressor)):
        _check_width(X, model.input_size)
    net = _unchecked(model)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} sequences but y has {len(y)} targets")
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:  # plain SGD, or SGD with momentum 0.9
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9 if optimizer == "momentum" else 0.0)
    g = torch.Generator().manual_seed(seed)
    kwargs = {} if detach_every is None else {"detach_every": detach_every}

    def step_loss(step):
        idx = torch.randint(len(X), (min(batch_size, len(X)),), generator=g).to(device)
        pred = net(X[idx], **kwargs)[:, -1, 0]
        return ((pred - y[idx]) ** 2).mean()

    return _train(model, step_loss, opt, steps, clip, stop_on_divergence=True)


def _train(model, step_loss, opt, steps, clip, stop_on_divergence=False) -> TrainResult:
    """:func:`nnbook.train.train_steps`, recording every step's loss and gradient norm (before clipping)."""
    res = TrainResult()

    def record(step, loss, norm):
        res.loss.append(loss)
        res.grad_norm.append(norm)
        res.diverged = stop_on_divergence and not (math.isfinite(loss) and loss <= 1e6 and math.isfinite(norm))
        return res.diverged                                    # stop before the update that would diverge

    start = time.perf_counter()
    train_steps(model, step_loss, opt, steps, every=steps, clip_grad_norm=clip, on_gradient=record)
    res.seconds = time.perf_counter() - start
    return res


@torch.no_grad()
@checked(model=Instance(nn.Module), X=SEQUENCES, y=VECTOR)
def evaluate_mse(model: nn.Module, X, y) -> float:
    """Mean squared error of the last output of ``model(X)`` against ``y (N,)`` (eval mode)."""
    device = next(model.parameters()).device
    X, y = X.to(device), y.to(device)
    model.eval()
    return float(((model(X)[:, -1, 0] - y) ** 2).mean())


__all__.append("evaluate_mse")


def _tokens_and_targets(model, X, y):
    if not hasattr(model, "input_size"):
        raise TypeError(f"model must be a GatedRegressor or ElmanRNN (with an input_size), got {type(model).__name__}")
    if X.dtype != torch.long or y.dtype != torch.long:
        raise TypeError(f"X and y must hold integer token ids (torch.long), got {X.dtype} and {y.dtype}")
    if X.shape != y.shape:
        raise ValueError(f"X and y must have the same shape (N, T), got {tuple(X.shape)} and {tuple(y.shape)}")
    if X.min() < 0 or X.max() >= model.input_size:
        raise ValueError(f"X must hold token ids in [0, {model.input_size}) (the model's input_size)")
    return X, y


@checked(model=Instance(nn.Module), X=TOKENS, y=TOKENS, steps=COUNT, batch_size=COUNT, lr=POSITIVE, clip=CLIP, seed=SEED)
def train_token_classifier(model: nn.Module, X, y, *, steps: int = 300, batch_size: int = 64, lr: float = 1e-2,
                           clip: float | None = 1.0, seed: int = 0) -> TrainResult:
    """Train ``model`` to predict a class at every step of a token sequence (e.g. the copy task).

    ``X (N, T)`` holds input token ids, fed to the model one-hot (``model.input_size``
    tokens); ``y (N, T)`` holds the target class of every step, ``-100`` where there is
    no target. Adam on the mean cross-entropy over the targeted steps, with the total
    gradient norm clipped to ``clip`` (``None``: no clipping).
    """
    X, y = _tokens_and_targets(model, X, y)
    device = next(model.parameters()).device
    X, y = X.to(device), y.to(device)
    net = _unchecked(model)                                # one-hot X has model.input_size features
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)

    def step_loss(step):
        idx = torch.randint(len(X), (min(batch_size, len(X)),), generator=g).to(device)
        logits = net(nn.functional.one_hot(X[idx], model.input_size).float())    # (B, T, classes)
        return nn.functional.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), ignore_index=-100)

    return _train(model, step_loss, opt, steps, clip)


@torch.no_grad()
@checked(model=Instance(nn.Module), X=TOKENS, y=TOKENS)
def token_accuracy(model: nn.Module, X, y) -> float:
    """Fraction of the targeted steps (``y != -100``) where the model's most likely class is ``y`` (eval mode)."""
    X, y = _tokens_and_targets(model, X, y)
    device = next(model.parameters()).device
    X, y = X.to(device), y.to(device)
    model.eval()
    pred = model(nn.functional.one_hot(X, model.input_size).float()).argmax(-1)
    keep = y != -100
    if not keep.any():
        raise ValueError("y has no targeted step (every entry is -100)")
    return float((pred[keep] == y[keep]).float().mean())


# ------------------------------------------------------------------ exercises
def _wrong_clip_always(grads, max_norm):
    total = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
    return [g * max_norm / total for g in grads]


def _wrong_clip_per_tensor(grads, max_norm):
    return [g * min(1.0, max_norm / float(g.norm())) for g in grads]


def _wrong_clip_elementwise(grads, max_norm):
    return [g.clamp(-max_norm, max_norm) for g in grads]


def _ref_clip(grads, max_norm):
    return clip_grad_norm(grads, max_norm)[0]


@exercise(
    "rnn.clip_grad_norm",
    reference=_ref_clip,
    wrong=[_wrong_clip_always, _wrong_clip_per_tensor, _wrong_clip_elementwise],
    hint="One norm for all tensors together: ‖g‖ = sqrt(Σ_i ‖g_i‖²); scale by θ/‖g‖ only if ‖g‖ > θ.",
)
def _check_clip(func):
    gen = torch.Generator().manual_seed(3)
    grads = [torch.randn(4, 3, generator=gen, dtype=torch.float64) * 5, torch.randn(3, generator=gen, dtype=torch.float64)]
    for theta in (1.0, 2.5, 100.0):
        got = func([g.clone() for g in grads], theta)
        if not isinstance(got, (list, tuple)) or len(got) != len(grads):
            raise CheckFailed("clip must return a list with one tensor per gradient")
        want = _ref_clip(grads, theta)
        for i, (a, w) in enumerate(zip(got, want)):
            expect_close(a, w, f"clipped grads[{i}] for θ = {theta}")


def _wrong_lstm_one_bias(input_size, hidden_size):
    return 4 * (hidden_size * input_size + hidden_size**2 + hidden_size)


def _wrong_lstm_three_gates(input_size, hidden_size):
    return 3 * (hidden_size * input_size + hidden_size**2 + 2 * hidden_size)


@exercise(
    "rnn.lstm_param_count",
    reference=lambda input_size, hidden_size: lstm_param_count(input_size, hidden_size),
    wrong=[_wrong_lstm_one_bias, _wrong_lstm_three_gates],
    hint="Four blocks (i, f, g, o), each with W_i (H×I), W_h (H×H) and PyTorch's two bias vectors b_i, b_h.",
)
def _check_lstm_count(func):
    for I, H in [(1, 1), (2, 16), (10, 7), (64, 128)]:
        want = sum(p.numel() for p in nn.LSTM(I, H).parameters())
        expect_equal(func(I, H), want, f"parameters of nn.LSTM({I}, {H})")


def _ref_bptt_step(dh, h, h_prev, x, W_hh):
    delta = dh * (1 - h**2)
    return delta.T @ h_prev, delta.T @ x, delta @ W_hh


def _wrong_step_no_fprime(dh, h, h_prev, x, W_hh):
    return dh.T @ h_prev, dh.T @ x, dh @ W_hh


def _wrong_step_transpose(dh, h, h_prev, x, W_hh):
    delta = dh * (1 - h**2)
    return delta.T @ h_prev, delta.T @ x, delta @ W_hh.T


def _wrong_step_cur_state(dh, h, h_prev, x, W_hh):
    delta = dh * (1 - h**2)
    return delta.T @ h, delta.T @ x, delta @ W_hh


@exercise(
    "rnn.bptt_step",
    reference=_ref_bptt_step,
    wrong=[_wrong_step_no_fprime, _wrong_step_transpose, _wrong_step_cur_state],
    hint="δ = dh ⊙ (1 − h²); dW_hh = δᵀ h_prev, dW_xh = δᵀ x, dh_prev = δ W_hh (no transpose: a = h_prev W_hhᵀ).",
)
def _check_bptt_step(func):
    gen = torch.Generator().manual_seed(5)
    B, I, H = 3, 2, 4
    x = torch.randn(B, I, generator=gen, dtype=torch.float64)
    h_prev = torch.randn(B, H, generator=gen, dtype=torch.float64).requires_grad_(True)
    W_xh = torch.randn(H, I, generator=gen, dtype=torch.float64).requires_grad_(True)
    W_hh = torch.randn(H, H, generator=gen, dtype=torch.float64).requires_grad_(True)
    dh = torch.randn(B, H, generator=gen, dtype=torch.float64)
    h = torch.tanh(x @ W_xh.T + h_prev @ W_hh.T)
    (h * dh).sum().backward()
    got = func(dh.clone(), h.detach().clone(), h_prev.detach().clone(), x.clone(), W_hh.detach().clone())
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailed("bptt_step must return a tuple (dW_hh, dW_xh, dh_prev)")
    expect_close(got[0], W_hh.grad, "dW_hh")
    expect_close(got[1], W_xh.grad, "dW_xh")
    expect_close(got[2], h_prev.grad, "dh_prev")
