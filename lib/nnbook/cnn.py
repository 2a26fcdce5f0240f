"""Convolutional networks and efficient convolution.

A 2-D convolution layer (卷积层) with ``C`` input channels, ``D`` output
channels and a ``k×k`` kernel maps ``x`` of shape ``(N, C, H, W)`` to
``y`` of shape ``(N, D, H', W')``::

    y[n, d, i, j] = b[d] + Σ_c Σ_{u,v} K[d, c, u, v] · x[n, c, s·i + u − p, s·j + v − p]
    H' = ⌊(H + 2p − k) / s⌋ + 1                         (same for W')

(deep-learning "convolution" is a cross-correlation: the kernel is not flipped).
:func:`conv2d_unfold` writes it as one matrix product over image patches
(``F.unfold``, "im2col") and is checked against ``torch.nn.functional.conv2d``.

Cost of one layer, counted in multiply-accumulates (MACs) on an ``H×W`` output::

    standard        k²·C·D·H·W                params k²·C·D
    depthwise-sep.  k²·C·H·W + C·D·H·W        params k²·C + C·D
    ratio           1/D + 1/k²                (the notes' claim; exact)
    group (G)       k²·C·D·H·W / G            params k²·C·D / G

``torch.utils.flop_counter`` reports FLOPs = 2 × MACs; :func:`count_flops`
returns its number unchanged.

Models: :class:`LeNet5` (the notes' 32×32 C1-S2-C3-S4-C5-F6-output network),
and the efficient blocks :class:`DepthwiseSeparableConv`,
:class:`GroupShuffleConv` (group convolution + ShuffleNet's
:func:`channel_shuffle`), :class:`InvertedResidual` (MobileNetV2), and the two
classifier heads :class:`GAPHead` / :class:`FCHead`.
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from nnbook.exercises import CheckFailed, exercise, expect_close, expect_equal
from nnbook.train import minibatches, train_steps
from nnbook.validate import COUNT, POSITIVE, SEED, Function, Instance, Int, Tensor, check_int, checked

__all__ = [
    "conv_output_size",
    "receptive_field",
    "conv2d_unfold",
    "conv_params",
    "conv_macs",
    "separable_params",
    "separable_ratio",
    "count_flops",
    "count_params",
    "measure_latency",
    "channel_shuffle",
    "DepthwiseSeparableConv",
    "GroupShuffleConv",
    "InvertedResidual",
    "GAPHead",
    "FCHead",
    "LeNet5",
    "digits_to_images",
    "random_shift",
    "train_classifier",
    "accuracy",
]


MODULE, IMAGES = Instance(nn.Module), Tensor(ndim=4)  # a network; images (N, C, H, W)


def _odd(k):
    if k % 2 == 0:
        raise ValueError(f"k must be odd for 'same' padding, got {k}")


# ---------------------------------------------------------------- shapes and sizes
@checked(n=COUNT, k=COUNT, stride=COUNT, padding=Int(0), dilation=COUNT)
def conv_output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution along one axis: ⌊(n + 2p − d(k−1) − 1)/s⌋ + 1."""
    span = dilation * (k - 1) + 1
    if n + 2 * padding < span:
        raise ValueError(f"k={k} (span {span}) is larger than the padded input n + 2·padding = {n + 2 * padding}")
    return (n + 2 * padding - span) // stride + 1


def receptive_field(layers) -> int:
    """Receptive field (in input pixels) of a stack of ``(kernel, stride)`` layers.

    r_0 = 1, and layer l adds (k_l − 1) · (s_1 · … · s_{l−1}):
    ``r_L = 1 + Σ_l (k_l − 1) Π_{m<l} s_m``.
    """
    try:
        layers = [tuple(layer) for layer in layers]
    except TypeError:
        raise TypeError("layers must be a sequence of (kernel, stride) pairs") from None
    if not layers:
        raise ValueError("layers must not be empty")
    r, jump = 1, 1
    for i, layer in enumerate(layers):
        if len(layer) != 2:
            raise ValueError(f"layers[{i}] must be a (kernel, stride) pair, got {layer}")
        k = check_int(f"layers[{i}] kernel", layer[0], min_value=1)
        s = check_int(f"layers[{i}] stride", layer[1], min_value=1)
        r += (k - 1) * jump
        jump *= s
    return r


def _check_conv_args(x, weight, groups):
    C, D = x.shape[1], weight.shape[0]
    if C % groups:
        raise ValueError(f"groups={groups} must divide the input channels C={C}")
    if D % groups:
        raise ValueError(f"groups={groups} must divide the output channels D={D} (weight.shape[0])")
    if weight.shape[1] * groups != C:
        raise ValueError(
            f"weight must have shape (D, C/groups, k, k) = ({D}, {C // groups}, k, k) for x with C={C}, got {tuple(weight.shape)}"
        )


@checked(x=IMAGES, weight=Tensor(ndim=4), bias=Tensor(ndim=1, optional=True), stride=COUNT, padding=Int(0), groups=COUNT)
def conv2d_unfold(x, weight, bias=None, stride: int = 1, padding: int = 0, groups: int = 1) -> torch.Tensor:
    """2-D convolution (cross-correlation) as a matrix product over patches.

    ``x``: (N, C, H, W); ``weight``: (D, C/groups, kh, kw); ``bias``: (D,) or None.
    Returns (N, D, H', W'). Each output pixel is ⟨kernel, patch⟩ + bias: unfold
    turns the patches into columns ``P`` of shape (N, C·kh·kw, H'·W'), and
    ``y = K P`` with ``K`` the kernel flattened to (D, C·kh·kw) — per group.
    """
    _check_conv_args(x, weight, groups)
    N, C, H, W = x.shape
    D, Cg, kh, kw = weight.shape
    Ho = conv_output_size.unchecked(H, kh, stride, padding)
    Wo = conv_output_size.unchecked(W, kw, stride, padding)
    patches = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (N, C·kh·kw, Ho·Wo), channel-major
    patches = patches.view(N, groups, Cg * kh * kw, Ho * Wo)
    K = weight.view(groups, D // groups, Cg * kh * kw)  # (G, D/G, Cg·kh·kw)
    y = torch.einsum("gdp,ngpl->ngdl", K, patches).reshape(N, D, Ho, Wo)
    if bias is not None:
        if bias.shape != (D,):
            raise ValueError(f"bias must have shape ({D},) (one per output channel), got {tuple(bias.shape)}")
        y = y + bias.to(y).view(1, D, 1, 1)
    return y


# ---------------------------------------------------------------- cost formulas
@checked(c_in=COUNT, c_out=COUNT, k=COUNT, groups=COUNT)
def conv_params(c_in: int, c_out: int, k: int, groups: int = 1, bias: bool = False) -> int:
    """Parameters of a k×k convolution: k²·C·D/G (+ D biases)."""
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide c_in={c_in} and c_out={c_out}")
    return k * k * c_in * c_out // groups + (c_out if bias else 0)


@checked(c_in=COUNT, c_out=COUNT, k=COUNT, h=COUNT, w=COUNT, groups=COUNT)
def conv_macs(c_in: int, c_out: int, k: int, h: int, w: int, groups: int = 1) -> int:
    """Multiply-accumulates of a k×k convolution with an h×w output: k²·C·D·h·w/G."""
    return conv_params.unchecked(c_in, c_out, k, groups) * h * w


@checked(c_in=COUNT, c_out=COUNT, k=COUNT)
def separable_params(c_in: int, c_out: int, k: int) -> int:
    """Parameters of a depthwise-separable convolution (no bias): k²·C + C·D."""
    return conv_params.unchecked(c_in, c_in, k, groups=c_in) + conv_params.unchecked(c_in, c_out, 1)


@checked(k=COUNT, d=COUNT)
def separable_ratio(k: int, d: int) -> float:
    """The notes' cost ratio (depthwise-separable / standard) = 1/D + 1/k²."""
    return 1.0 / d + 1.0 / k**2


@checked(module=MODULE)
def count_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@checked(module=MODULE, x=Tensor())
def count_flops(module: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass, as counted by ``torch.utils.flop_counter`` (2 per MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(x)
    return int(counter.get_total_flops())


@checked(module=MODULE, x=Tensor(), repeats=COUNT, warmup=Int(0))
def measure_latency(module: nn.Module, x: torch.Tensor, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``module(x)`` over ``repeats`` runs (a measurement, not a count)."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            sync()
            t0 = time.perf_counter()
            module(x)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ---------------------------------------------------------------- efficient blocks
@checked(x=IMAGES, groups=COUNT)
def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: (N, G·m, H, W) → view (N, G, m) → transpose → (N, m·G, H, W).

    Afterwards every group of the next group convolution sees one channel from each old group.
    """
    N, C, H, W = x.shape
    if C % groups:
        raise ValueError(f"groups={groups} must divide the channels C={C}")
    return x.view(N, groups, C // groups, H, W).transpose(1, 2).reshape(N, C, H, W)


class DepthwiseSeparableConv(nn.Module):
    """Depthwise k×k convolution (one filter per channel, groups=C) then pointwise 1×1 (C→D).

    (N, C, H, W) → (N, D, H, W) with 'same' padding; no bias, so the cost is exactly
    k²·C·H·W + C·D·H·W MACs.
    """

    @checked(c_in=COUNT, c_out=COUNT, k=COUNT)
    def __init__(self, c_in: int, c_out: int, k: int = 3):
        super().__init__()
        _odd(k)
        self.depthwise = nn.Conv2d(c_in, c_in, k, padding=k // 2, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class GroupShuffleConv(nn.Module):
    """Group k×k convolution (G groups, cost / G) followed by a channel shuffle."""

    @checked(c_in=COUNT, c_out=COUNT, k=COUNT, groups=COUNT)
    def __init__(self, c_in: int, c_out: int, k: int = 3, groups: int = 4):
        super().__init__()
        conv_params.unchecked(c_in, c_out, k, groups)  # checks that groups divides c_in and c_out
        _odd(k)
        self.groups = groups
        self.conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups, bias=False)

    def forward(self, x):
        return channel_shuffle.unchecked(self.conv(x), self.groups)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1×1 expand (C→tC), ReLU6, depthwise k×k, ReLU6, 1×1 project (tC→C), + x.

    Wide in the middle, narrow at the ends (the reverse of a ResNet bottleneck); the last
    projection is linear. (N, C, H, W) → (N, C, H, W).
    """

    @checked(channels=COUNT, expand=COUNT, k=COUNT)
    def __init__(self, channels: int, expand: int = 6, k: int = 3):
        super().__init__()
        c, t = channels, expand
        _odd(k)
        self.expand = nn.Conv2d(c, t * c, 1, bias=False)
        self.depthwise = nn.Conv2d(t * c, t * c, k, padding=k // 2, groups=t * c, bias=False)
        self.project = nn.Conv2d(t * c, c, 1, bias=False)

    def forward(self, x):
        h = F.relu6(self.expand(x))
        h = F.relu6(self.depthwise(h))
        return x + self.project(h)


class GAPHead(nn.Module):
    """Global average pooling then a linear classifier: (N, C, H, W) → (N, C) → (N, n_classes)."""

    @checked(channels=COUNT, n_classes=COUNT)
    def __init__(self, channels: int, n_classes: int):
        super().__init__()
        self.fc = nn.Linear(channels, n_classes)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


class FCHead(nn.Module):
    """Flatten then a linear classifier: (N, C, H, W) → (N, C·H·W) → (N, n_classes)."""

    @checked(channels=COUNT, height=COUNT, width=COUNT, n_classes=COUNT)
    def __init__(self, channels: int, height: int, width: int, n_classes: int):
        super().__init__()
        self.fc = nn.Linear(channels * height * width, n_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


# ---------------------------------------------------------------- LeNet-5
class LeNet5(nn.Module):
    """LeNet-5 as laid out in the notes; input (N, 1, 32, 32) → logits (N, n_classes).

    C1 conv 5×5, 1→6    (N, 6, 28, 28)     S2 avg-pool 2   (N, 6, 14, 14)
    C3 conv 5×5, 6→16   (N, 16, 10, 10)    S4 avg-pool 2   (N, 16, 5, 5)
    C5 conv 5×5, 16→120 (N, 120, 1, 1)     F6 linear 120→84, output linear 84→n_classes
    tanh after C1, C3, C5, F6. (The 1998 paper's sparse C3 connection table, trainable
    pooling coefficients and RBF output layer are replaced by their modern defaults.)
    """

    @checked(n_classes=Int(2))
    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = nn.AvgPool2d(2)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.s4 = nn.AvgPool2d(2)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.out = nn.Linear(84, n_classes)

    def features(self, x):
        """The C1 feature maps (after tanh), (N, 6, 28, 28)."""
        return torch.tanh(self.c1(x))

    def forward(self, x):  # called every training step: a shape check only
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 32, 32):
            raise ValueError(f"x must have shape (N, 1, 32, 32), got {tuple(x.shape)}")
        h = self.s2(self.features(x))
        h = self.s4(torch.tanh(self.c3(h)))
        h = torch.tanh(self.c5(h)).flatten(1)
        return self.out(torch.tanh(self.f6(h)))


# ---------------------------------------------------------------- data and training
@checked(X=Tensor(ndim=(2, 4)), size=Int(8))
def digits_to_images(X, size: int = 32) -> torch.Tensor:
    """Rows of 8×8 digits, (N, 64) or (N, 1, 8, 8), → (N, 1, size, size) by bilinear interpolation."""
    if X.ndim == 2:
        if X.shape[1] != 64:
            raise ValueError(f"X must have 64 columns (8×8 pixels), got shape {tuple(X.shape)}")
        X = X.view(-1, 1, 8, 8)
    elif tuple(X.shape[1:]) != (1, 8, 8):
        raise ValueError(f"X must have shape (N, 64) or (N, 1, 8, 8), got {tuple(X.shape)}")
    return F.interpolate(X.float(), size=(size, size), mode="bilinear", align_corners=False)


@checked(x=IMAGES, max_shift=Int(0))
def random_shift(x: torch.Tensor, max_shift: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image (N, C, H, W) by a random integer (dy, dx) in [−max_shift, max_shift], zero fill."""
    m = max_shift
    if m == 0:
        return x
    N, C, H, W = x.shape
    padded = F.pad(x, (m, m, m, m))
    d = torch.randint(0, 2 * m + 1, (N, 2), generator=generator).tolist()
    return torch.stack([padded[i, :, dy : dy + H, dx : dx + W] for i, (dy, dx) in enumerate(d)])


@checked(model=MODULE, X=IMAGES, y=Tensor(ndim=1), epochs=COUNT, batch_size=COUNT, lr=POSITIVE,
         augment=Function(optional=True), callback=Function(optional=True), seed=SEED)
def train_classifier(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 1e-3,
    augment=None,
    callback=None,
    seed: int = 0,
    cosine: bool = True,
) -> list[float]:
    """Adam + cross-entropy, mini-batches; ``augment(xb, generator)`` is applied to each batch.

    ``epochs`` passes over ``X`` in a fresh random order each (drawn from ``seed``), in the loop
    :func:`nnbook.train.train_steps`. ``cosine=True`` anneals the learning rate from ``lr`` to 0
    over all steps (cosine schedule). ``callback(epoch, model)`` (epoch from 0) is called after
    each epoch, in eval mode. Returns the mean minibatch loss of each epoch.
    """
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    per_epoch = (len(X) + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * per_epoch) if cosine else None
    batches = minibatches(len(X), batch_size, g, device=X.device)

    def step_loss(step):
        idx = next(batches)
        xb = X[idx] if augment is None else augment(X[idx], g)
        return F.cross_entropy(model(xb), y[idx])

    after_epoch = None if callback is None else lambda step, m: callback(step // per_epoch - 1, m)
    return train_steps(model, step_loss, opt, epochs * per_epoch, every=per_epoch, callback=after_epoch, scheduler=sched)


@checked(model=MODULE, X=Tensor(), y=Tensor(ndim=1), batch_size=COUNT)
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Fraction of rows of ``X`` whose arg-max logit equals ``y``."""
    if X.ndim == 0 or len(y) != len(X):
        raise ValueError(f"y must hold one label per row of X, got shapes {tuple(X.shape)} and {tuple(y.shape)}")
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(X[i : i + batch_size]).argmax(1) for i in range(0, len(X), batch_size)])
    return float((pred == y.to(pred.device)).float().mean())


# ---------------------------------------------------------------- exercise checkers
def _wrong_out_no_stride(n, k, stride=1, padding=0):
    return n + 2 * padding - k + 1


def _wrong_out_one_pad(n, k, stride=1, padding=0):
    return (n + padding - k) // stride + 1


def _ref_out(n, k, stride=1, padding=0):
    return conv_output_size(n, k, stride, padding)


@exercise(
    "cnn.conv_output_size",
    reference=_ref_out,
    wrong=[_wrong_out_no_stride, _wrong_out_one_pad],
    hint="Pad both sides (2p), count the positions a k-wide window fits, divide by the stride and round down, plus 1.",
)
def _check_out(func):
    for n, k, s, p in [(32, 5, 1, 0), (28, 2, 2, 0), (8, 3, 1, 1), (7, 3, 2, 1), (224, 7, 2, 3), (10, 4, 3, 0)]:
        expect_equal(func(n, k, s, p), conv_output_size(n, k, s, p), f"conv_output_size(n={n}, k={k}, stride={s}, padding={p})")


def _wrong_sep_no_pointwise(c_in, c_out, k):
    return k * k * c_in


def _wrong_sep_full_depthwise(c_in, c_out, k):
    return k * k * c_in * c_in + c_in * c_out


@exercise(
    "cnn.separable_params",
    reference=separable_params,
    wrong=[_wrong_sep_no_pointwise, _wrong_sep_full_depthwise],
    hint="Depthwise: one k×k filter per input channel (k²·C). Pointwise: a 1×1 convolution C→D (C·D). No biases.",
)
def _check_sep(func):
    for c_in, c_out, k in [(3, 8, 3), (16, 32, 5), (32, 128, 3), (1, 1, 1)]:
        want = count_params(DepthwiseSeparableConv(c_in, c_out, k))
        expect_equal(func(c_in, c_out, k), want, f"separable_params(c_in={c_in}, c_out={c_out}, k={k})")


def _wrong_conv_flipped(x, weight, bias=None):
    return conv2d_unfold(x, weight.flip(-1, -2), bias)


def _wrong_conv_no_bias(x, weight, bias=None):
    return conv2d_unfold(x, weight)


def _ref_conv(x, weight, bias=None):
    return conv2d_unfold(x, weight, bias)


@exercise(
    "cnn.conv2d",
    reference=_ref_conv,
    wrong=[_wrong_conv_flipped, _wrong_conv_no_bias],
    hint="y[n,d,i,j] = b[d] + Σ_c Σ_u Σ_v K[d,c,u,v]·x[n,c,i+u,j+v] (no flip, stride 1, no padding).",
)
def _check_conv(func):
    g = torch.Generator().manual_seed(3)
    for shape, wshape in [((2, 3, 6, 5), (4, 3, 3, 3)), ((1, 1, 5, 5), (2, 1, 2, 2))]:
        x = torch.randn(*shape, generator=g, dtype=torch.float64)
        w = torch.randn(*wshape, generator=g, dtype=torch.float64)
        b = torch.randn(wshape[0], generator=g, dtype=torch.float64)
        got = func(x.clone(), w.clone(), b.clone())
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"expected a torch.Tensor, got {type(got).__name__}")
        expect_close(got, F.conv2d(x, w, b), f"conv2d on x of shape {shape}, weight {wshape}", atol=1e-8)
