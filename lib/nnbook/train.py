"""The training loops: :func:`fit` with the notes' four stopping criteria, and :func:`train_steps`.

:func:`train_steps` is the one minibatch loop of the chapters that do not teach the loop
(CNN, RNN, Transformer, GNN, autoencoders, VAE, flows, diffusion): a module supplies only the
loss of one step (which draws its own minibatch, e.g. with :func:`minibatches`) and its optimiser.

The notes (static networks, §3) list four ways to decide that back-propagation
has finished. Each is a :class:`StoppingCriterion` here:

1. :class:`GradientNorm`   — stop when ``‖g(W)‖ < ε`` (needs a full-batch gradient: costly);
2. :class:`RelativeChange` — stop when ``|E(n) − E(n−1)| / E(n−1) < ε`` (the common one);
3. :class:`EarlyStopping`  — stop when the validation error has not improved for ``patience`` epochs;
4. :class:`MaxEpochs`      — stop after a fixed number of epochs.

>>> history = fit(model, (X, y), loss_fn=torch.nn.MSELoss(), lr=0.1,
...               stopping=[RelativeChange(1e-4), MaxEpochs(500)])
>>> history.stopped_by, history.epochs
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import torch
from torch import nn

from nnbook.validate import COUNT, POSITIVE, SEED, Float, Function, Instance, Int, check_callable, check_tensor, checked

__all__ = [
    "History",
    "StoppingCriterion",
    "GradientNorm",
    "RelativeChange",
    "EarlyStopping",
    "MaxEpochs",
    "fit",
    "gradient_norm",
    "train_steps",
    "minibatches",
]

MODEL = Instance(nn.Module)
OPTIONAL_FUNCTION = Function(optional=True)


@dataclass
class History:
    """What :func:`fit` recorded, one entry per epoch."""

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    stopped_by: str = ""
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train_loss)


class StoppingCriterion:
    """Base class: :meth:`should_stop` sees the history after each epoch."""

    name = "criterion"
    needs_grad_norm = False
    needs_validation = False

    def reset(self) -> None:
        """Forget state from an earlier run (called by :func:`fit`)."""

    def should_stop(self, history: History, model: nn.Module) -> bool:
        raise NotImplementedError

    def on_train_end(self, model: nn.Module) -> None:
        """Called once when training stops, for any reason."""


class GradientNorm(StoppingCriterion):
    """Criterion 1: stop when the full-batch gradient norm ``‖g(W)‖₂ < eps``."""

    name = "gradient norm"
    needs_grad_norm = True

    @checked(eps=POSITIVE)
    def __init__(self, eps: float = 1e-3):
        self.eps = eps

    def should_stop(self, history, model):
        return history.grad_norm[-1] < self.eps


class RelativeChange(StoppingCriterion):
    """Criterion 2: stop when ``|E(n) − E(n−1)| / E(n−1) < eps`` on the training loss."""

    name = "relative change"

    @checked(eps=POSITIVE)
    def __init__(self, eps: float = 1e-4):
        self.eps = eps

    def should_stop(self, history, model):
        if history.epochs < 2:
            return False
        prev, cur = history.train_loss[-2], history.train_loss[-1]
        return abs(cur - prev) / max(abs(prev), 1e-12) < self.eps


class EarlyStopping(StoppingCriterion):
    """Criterion 3 (cross-validation): stop when the validation loss has not
    improved for ``patience`` epochs; the best weights are restored at the end."""

    name = "early stopping"
    needs_validation = True

    @checked(patience=COUNT)
    def __init__(self, patience: int = 10, restore_best: bool = True):
        self.patience = patience
        self.restore_best = bool(restore_best)
        self.reset()

    def reset(self):
        self.best = float("inf")
        self.best_epoch = 0
        self._best_state = None

    def should_stop(self, history, model):
        loss = history.val_loss[-1]
        if loss < self.best:
            self.best, self.best_epoch = loss, history.epochs
            self._best_state = copy.deepcopy(model.state_dict())
        return history.epochs - self.best_epoch >= self.patience

    def on_train_end(self, model):
        if self.restore_best and self._best_state is not None:
            model.load_state_dict(self._best_state)


class MaxEpochs(StoppingCriterion):
    """Criterion 4: stop after ``n`` epochs."""

    name = "max epochs"

    @checked(n=COUNT)
    def __init__(self, n: int = 100):
        self.n = n

    def should_stop(self, history, model):
        return history.epochs >= self.n


@checked(model=MODEL)
def gradient_norm(model: nn.Module) -> float:
    """The Euclidean norm of all parameter gradients stacked into one vector."""
    norms = [p.grad.detach().norm() for p in model.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


def _full_batch_loss(model, loss_fn, X, y, with_grad: bool):
    model.zero_grad(set_to_none=True)
    if with_grad:
        loss = loss_fn(model(X), y)
        loss.backward()
        return float(loss.detach()), gradient_norm.unchecked(model)
    with torch.no_grad():
        return float(loss_fn(model(X), y)), float("nan")


def _pair(name: str, data, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``data = (X, y)`` as two tensors with as many rows, on ``device``."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"{name} must be a pair (X, y)")
    X, y = (check_tensor(f"{name}[{i}]", t).to(device) for i, t in enumerate(data))
    if len(X) != len(y):
        raise ValueError(f"{name}: X has {len(X)} rows but y has {len(y)}")
    return X, y


@checked(model=MODEL, loss_fn=Function(), optimizer=Instance(torch.optim.Optimizer, optional=True), lr=POSITIVE,
         batch_size=Int(1, optional=True), max_epochs=COUNT, seed=replace(SEED, optional=True))
def fit(
    model: nn.Module,
    train_data: tuple,
    *,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 0.1,
    batch_size: int | None = None,
    val_data: tuple | None = None,
    stopping: Sequence[StoppingCriterion] = (),
    max_epochs: int = 1000,
    callbacks: Sequence[Callable] = (),
    progress: bool = False,
    seed: int | None = None,
) -> History:
    """Train ``model`` on ``train_data = (X, y)`` until a stopping criterion fires.

    ``optimizer`` defaults to plain SGD with ``lr``. ``batch_size=None`` means
    full-batch gradient descent. Each epoch records the mean training loss,
    the validation loss (if ``val_data``) and, when a criterion needs it, the
    full-batch gradient norm. ``callbacks`` are called as ``cb(history, model)``
    after every epoch. ``max_epochs`` is a hard cap in every case.
    """
    for i, c in enumerate(stopping):
        if not isinstance(c, StoppingCriterion):
            raise TypeError(f"stopping[{i}] must be a StoppingCriterion, got {type(c).__name__}")
    if any(c.needs_validation for c in stopping) and val_data is None:
        raise ValueError("stopping contains EarlyStopping, which needs val_data=(X_val, y_val)")
    for i, cb in enumerate(callbacks):
        check_callable(f"callbacks[{i}]", cb)

    device = next(model.parameters()).device
    X, y = _pair("train_data", train_data, device)
    if val_data is not None:
        Xv, yv = _pair("val_data", val_data, device)
    n = len(X)
    batch_size = n if batch_size is None else batch_size
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    need_grad_norm = any(c.needs_grad_norm for c in stopping)
    for c in stopping:
        c.reset()

    from tqdm.auto import tqdm

    history = History()
    start = time.perf_counter()
    bar = tqdm(range(max_epochs), disable=not progress, leave=False)
    for _ in bar:
        model.train()
        order = torch.randperm(n, generator=generator).to(device) if batch_size < n else torch.arange(n, device=device)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        history.train_loss.append(total / n)
        model.eval()
        if need_grad_norm:
            history.grad_norm.append(_full_batch_loss(model, loss_fn, X, y, with_grad=True)[1])
        if val_data is not None:
            history.val_loss.append(_full_batch_loss(model, loss_fn, Xv, yv, with_grad=False)[0])
        for cb in callbacks:
            cb(history, model)
        bar.set_postfix(loss=f"{history.train_loss[-1]:.4g}")
        fired = [c.name for c in stopping if c.should_stop(history, model)]
        if fired:
            history.stopped_by = fired[0]
            break
    else:
        history.stopped_by = "max_epochs argument"
    for c in stopping:
        c.on_train_end(model)
    history.seconds = time.perf_counter() - start
    return history


@checked(model=MODEL, step_loss=Function(), optimizer=Instance(torch.optim.Optimizer), steps=COUNT, every=COUNT,
         callback=OPTIONAL_FUNCTION, clip_grad_norm=Float(0.0, lo_open=True, optional=True), on_gradient=OPTIONAL_FUNCTION)
def train_steps(
    model: nn.Module,
    step_loss: Callable[[int], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    steps: int,
    *,
    every: int = 100,
    callback: Callable[[int, nn.Module], None] | None = None,
    scheduler=None,
    clip_grad_norm: float | None = None,
    on_gradient: Callable[[int, float, float], bool | None] | None = None,
) -> list:
    """The minibatch loop of every chapter that does not teach the loop: ``steps`` optimiser steps.

    Step ``s`` (from 1) minimises ``step_loss(s)`` (a scalar tensor; the function draws its own
    minibatch): zero the gradients, back-propagate, optionally clip, step the optimiser (and the
    ``scheduler``, if given). Every ``every`` steps the mean loss of the last ``every`` steps is
    appended to the returned list (``every=1``: the loss of every step) and ``callback(s, model)``
    runs with the model in eval mode. The model is left in eval mode.

    ``clip_grad_norm=θ`` rescales the gradient so that its total norm is at most ``θ``
    (``torch.nn.utils.clip_grad_norm_``). ``on_gradient(s, loss, norm)``, if given, sees each step's
    loss and the total gradient norm *before* clipping, after the backward pass and before the
    update; if it returns ``True`` training stops there, without that update (e.g. on divergence).
    """
    history, running = [], 0.0
    model.train()
    for step in range(1, steps + 1):
        loss = step_loss(step)
        if not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
            raise TypeError(f"step_loss must return a scalar tensor, got {type(loss).__name__}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm is not None or on_gradient is not None:
            max_norm = clip_grad_norm if clip_grad_norm is not None else float("inf")
            norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)       # the norm before clipping
            if on_gradient is not None and on_gradient(step, float(loss.detach()), float(norm)):
                break
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        running += float(loss.detach())
        if step % every == 0:
            history.append(running / every)
            running = 0.0
            if callback is not None:
                model.eval()
                callback(step, model)
                model.train()
    model.eval()
    return history


@checked(n=COUNT, batch_size=COUNT, generator=Instance(torch.Generator, optional=True))
def minibatches(n: int, batch_size: int, generator: torch.Generator | None = None, device=None):
    """Endless minibatches of indices into ``range(n)``, for a ``step_loss`` that trains in epochs.

    Each epoch is a fresh permutation, drawn from ``generator`` when the epoch's first batch is
    taken, cut into ``ceil(n / batch_size)`` batches (the last one may be smaller). Use it as
    ``batches = minibatches(len(X), 64, g)`` and ``idx = next(batches)`` inside ``step_loss``.
    """
    def batches():
        while True:
            order = torch.randperm(n, generator=generator).to(device)
            for i in range(0, n, batch_size):
                yield order[i : i + batch_size]

    return batches()
