"""Tests for nnbook.cnn: hand convolution vs torch, cost formulas vs FlopCounterMode, blocks, LeNet-5."""
import time

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nnbook import cnn


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2), g=st.sampled_from([1, 2]), cg=st.integers(1, 2), dg=st.integers(1, 2),
    k=st.integers(1, 3), s=st.integers(1, 2), p=st.integers(0, 1), hw=st.integers(3, 7),
)
def test_conv2d_unfold_matches_torch(n, g, cg, dg, k, s, p, hw):
    gen = torch.Generator().manual_seed(n + 7 * k + 13 * hw)
    x = torch.randn(n, g * cg, hw, hw + 1, generator=gen, dtype=torch.float64)
    w = torch.randn(g * dg, cg, k, k, generator=gen, dtype=torch.float64)
    b = torch.randn(g * dg, generator=gen, dtype=torch.float64)
    got = cnn.conv2d_unfold(x, w, b, stride=s, padding=p, groups=g)
    torch.testing.assert_close(got, F.conv2d(x, w, b, stride=s, padding=p, groups=g))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 3), p=st.integers(0, 3))
def test_conv_output_size_matches_torch(n, k, s, p):
    if n + 2 * p < k:
        with pytest.raises(ValueError, match="k="):
            cnn.conv_output_size(n, k, s, p)
        return
    out = F.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1), stride=s, padding=(p, 0))
    assert cnn.conv_output_size(n, k, s, p) == out.shape[2]


def test_receptive_field():
    assert cnn.receptive_field([(3, 1)]) == 3
    assert cnn.receptive_field([(3, 1), (3, 1)]) == 5  # two 3×3 see 5×5
    # LeNet-5: C1 5, S2 2/2, C3 5, S4 2/2, C5 5 -> the whole 32×32 input
    assert cnn.receptive_field([(5, 1), (2, 2), (5, 1), (2, 2), (5, 1)]) == 32


def test_receptive_field_by_gradient():
    """The formula agrees with the support of the gradient of one output pixel."""
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3))
    x = torch.randn(1, 1, 21, 21, requires_grad=True)
    net(x)[0, 0, 0, 0].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).sum().item()
    assert rows == cnn.receptive_field([(3, 1), (3, 2), (3, 1)]) == 9


@settings(max_examples=15, deadline=None)
@given(layers=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 2)), min_size=1, max_size=3))
def test_receptive_field_property(layers):
    """Formula = width of the input region that the gradient of one output pixel touches."""
    r = cnn.receptive_field(layers)
    net = nn.Sequential(*[nn.Conv2d(1, 1, (k, 1), stride=(s, 1), bias=False) for k, s in layers])
    for conv in net:
        nn.init.constant_(conv.weight, 1.0)  # positive weights: no accidental cancellation
    x = torch.zeros(1, 1, r + 8, 1, requires_grad=True)
    net(x)[0, 0, 0, 0].backward()
    touched = (x.grad[0, 0, :, 0] != 0).nonzero().flatten()
    # the extent (first to last touched pixel); with k < s the window has holes, which the width ignores
    assert int(touched[-1] - touched[0]) + 1 == r


@settings(max_examples=20, deadline=None)
@given(k=st.sampled_from([1, 3, 5, 7]), c=st.integers(1, 8), d=st.integers(1, 16), hw=st.integers(2, 6))
def test_separable_ratio_exact_with_flop_counter(k, c, d, hw):
    x = torch.zeros(1, c, hw, hw)
    std = nn.Conv2d(c, d, k, padding=k // 2, bias=False)
    sep = cnn.DepthwiseSeparableConv(c, d, k)
    f_std, f_sep = cnn.count_flops(std, x), cnn.count_flops(sep, x)
    assert f_std == 2 * cnn.conv_macs(c, d, k, hw, hw)
    assert f_sep * d * k * k == f_std * (k * k + d)  # f_sep / f_std == 1/D + 1/k², exactly in integers
    assert f_sep / f_std == pytest.approx(cnn.separable_ratio(k, d), rel=1e-12)
    assert cnn.count_params(sep) == cnn.separable_params(c, d, k)
    assert cnn.count_params(std) == cnn.conv_params(c, d, k)


def test_notes_example_ratio():
    assert cnn.separable_ratio(3, 128) == pytest.approx(1 / 128 + 1 / 9)
    # exactly 1/8 only at D = 72 (1/72 + 1/9 = 1/8): checked on FLOPs counted by torch, not the formula
    x = torch.zeros(1, 4, 6, 6)
    f_sep = cnn.count_flops(cnn.DepthwiseSeparableConv(4, 72, 3), x)
    assert 8 * f_sep == cnn.count_flops(nn.Conv2d(4, 72, 3, padding=1, bias=False), x)
    f_sep128 = cnn.count_flops(cnn.DepthwiseSeparableConv(4, 128, 3), x)
    assert 8 * f_sep128 < cnn.count_flops(nn.Conv2d(4, 128, 3, padding=1, bias=False), x)  # D = 128: below 1/8


@settings(max_examples=15, deadline=None)
@given(g=st.sampled_from([1, 2, 4]), m=st.integers(1, 4))
def test_group_conv_cost_divided_by_groups(g, m):
    c = d = g * m * 2
    x = torch.zeros(1, c, 4, 4)
    grp = cnn.GroupShuffleConv(c, d, 3, groups=g)
    assert cnn.count_params(grp) * g == cnn.conv_params(c, d, 3)
    assert cnn.count_flops(grp, x) * g == cnn.count_flops(nn.Conv2d(c, d, 3, padding=1, bias=False), x)


def test_forward_passes_run_no_argument_checks(monkeypatch):
    """Blocks call channel_shuffle unchecked: a training step does not re-check its activations."""
    import nnbook.validate as V

    seen, real = [], V.check_tensor
    monkeypatch.setattr(V, "check_tensor", lambda name, value, **kw: seen.append(name) or real(name, value, **kw))
    x = torch.randn(2, 4, 5, 5)
    for block in (cnn.GroupShuffleConv(4, 8, 3, 2), cnn.DepthwiseSeparableConv(4, 8), cnn.InvertedResidual(4, 2)):
        block(x)
    assert seen == []
    cnn.channel_shuffle(x, 2)
    assert seen == ["x"]


def test_channel_shuffle_permutation_and_mixing():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert cnn.channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert cnn.channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    # shuffling with G then with C/G undoes it
    y = torch.randn(2, 12, 3, 3)
    torch.testing.assert_close(cnn.channel_shuffle(cnn.channel_shuffle(y, 3), 4), y)


def test_inverted_residual_and_heads_shapes():
    x = torch.randn(2, 8, 5, 5)
    block = cnn.InvertedResidual(8, expand=4)
    assert block(x).shape == x.shape
    # zero projection -> identity (residual path)
    nn.init.zeros_(block.project.weight)
    torch.testing.assert_close(block(x), x)
    assert cnn.count_params(block) == 8 * 32 + 9 * 32 + 32 * 8
    assert cnn.GAPHead(8, 10)(x).shape == (2, 10)
    assert cnn.FCHead(8, 5, 5, 10)(x).shape == (2, 10)
    assert cnn.count_params(cnn.GAPHead(8, 10)) == 90
    assert cnn.count_params(cnn.FCHead(8, 5, 5, 10)) == 2010


def test_lenet5_shapes_and_params():
    net = cnn.LeNet5()
    x = torch.randn(3, 1, 32, 32)
    assert net(x).shape == (3, 10)
    assert net.features(x).shape == (3, 6, 28, 28)
    assert cnn.count_params(net) == 61706  # the classic LeNet-5 count with a full C3 table
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.randn(3, 1, 28, 28))


def test_digits_and_shift():
    X = torch.rand(4, 64)
    imgs = cnn.digits_to_images(X)
    assert imgs.shape == (4, 1, 32, 32)
    sh = cnn.random_shift(X.view(4, 1, 8, 8), 1, torch.Generator().manual_seed(0))
    assert sh.shape == (4, 1, 8, 8)
    # each shifted image equals the original moved by at most one pixel
    for a, b in zip(X.view(4, 8, 8), sh[:, 0]):
        ok = any(
            torch.equal(F.pad(a, (1, 1, 1, 1))[1 + dy : 9 + dy, 1 + dx : 9 + dx], b)
            for dy in (-1, 0, 1) for dx in (-1, 0, 1)
        )
        assert ok


def test_training_learns_small_problem():
    torch.manual_seed(0)
    X = torch.zeros(40, 1, 32, 32)
    y = torch.arange(40) % 2
    X[y == 1, :, :16] = 1.0  # class 1: top half bright
    net = cnn.LeNet5(2)
    losses = cnn.train_classifier(net, X, y, epochs=15, batch_size=10, lr=3e-3)
    assert losses[-1] < losses[0]
    assert cnn.accuracy(net, X, y) == 1.0


def test_train_classifier_is_the_epoch_loop_written_out_and_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    X, y = torch.randn(23, 1, 32, 32), torch.arange(23) % 3
    init = cnn.LeNet5(3).state_dict()
    shift = lambda xb, g: cnn.random_shift(xb, 1, generator=g)
    ref = cnn.LeNet5(3)
    ref.load_state_dict(init)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 3 * 3)
    g, want = torch.Generator().manual_seed(5), []
    for epoch in range(3):                                      # the reference: 3 epochs of batches 10, 10, 3
        order, losses = torch.randperm(23, generator=g), []
        for i in range(0, 23, 10):
            idx = order[i : i + 10]
            loss = F.cross_entropy(ref(shift(X[idx], g)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        want.append(sum(losses) / len(losses))
    for _ in range(2):
        net, epochs = cnn.LeNet5(3), []
        net.load_state_dict(init)
        state = torch.get_rng_state()
        got = cnn.train_classifier(net, X, y, epochs=3, batch_size=10, lr=1e-3, augment=shift, seed=5,
                                   callback=lambda e, m: epochs.append((e, m.training)))
        assert torch.equal(torch.get_rng_state(), state)        # the caller's random stream is untouched
        assert got == pytest.approx(want, rel=1e-12) and epochs == [(0, False), (1, False), (2, False)]
        for a, b in zip(net.parameters(), ref.parameters()):
            assert torch.equal(a, b)                            # the same steps, bit for bit


class _Sleeper(nn.Module):
    """A module whose n-th call sleeps durations[n] seconds: a latency known in advance."""

    def __init__(self, durations):
        super().__init__()
        self.durations, self.calls = durations, 0

    def forward(self, x):
        time.sleep(self.durations[self.calls])
        self.calls += 1
        return x


def test_latency_is_median_after_warmup():
    # warm-up call 0.3 s (excluded), then 0.01, 0.3, 0.01 s: the median is 0.01 s, the mean would be 0.107 s
    m = _Sleeper([0.3, 0.01, 0.3, 0.01])
    t = cnn.measure_latency(m, torch.zeros(1), repeats=3, warmup=1)
    assert m.calls == 4
    assert 0.01 <= t < 0.05


def test_bad_input():
    w = torch.randn(4, 3, 3, 3)
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        cnn.conv2d_unfold(torch.randn(3, 8, 8), w)
    with pytest.raises(ValueError, match="weight must have 4 dimensions"):
        cnn.conv2d_unfold(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3))
    with pytest.raises(ValueError, match="groups=2 must divide the input channels"):
        cnn.conv2d_unfold(torch.randn(1, 3, 8, 8), w, groups=2)
    with pytest.raises(ValueError, match="weight must have shape"):
        cnn.conv2d_unfold(torch.randn(1, 5, 8, 8), w)
    with pytest.raises(ValueError, match="bias"):
        cnn.conv2d_unfold(torch.randn(1, 3, 8, 8), w, torch.randn(3))
    with pytest.raises(ValueError, match="groups=3 must divide c_in"):
        cnn.conv_params(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="groups=4 must divide c_in"):
        cnn.GroupShuffleConv(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match="groups=4 must divide the channels"):
        cnn.channel_shuffle(torch.randn(1, 6, 2, 2), 4)
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        cnn.channel_shuffle(torch.randn(6, 2, 2), 2)
    with pytest.raises(ValueError, match="k must be odd"):
        cnn.DepthwiseSeparableConv(3, 4, 2)
    with pytest.raises(TypeError, match="k must be an integer"):
        cnn.separable_ratio(3.0, 8)
    with pytest.raises(ValueError, match="d must be >= 1"):
        cnn.separable_ratio(3, 0)
    with pytest.raises(ValueError, match="X must have 64 columns"):
        cnn.digits_to_images(torch.rand(2, 63))
    with pytest.raises(ValueError, match=r"X must have shape \(N, 64\) or \(N, 1, 8, 8\)"):
        cnn.digits_to_images(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="layers must not be empty"):
        cnn.receptive_field([])
    with pytest.raises(TypeError, match="module"):
        cnn.count_flops("conv", torch.zeros(1))
