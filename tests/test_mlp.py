"""Tests for nnbook.mlp: hand-written back-propagation against torch autograd."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbook.mlp import (
    ACTIVATIONS,
    BatchedXORNet,
    DeepMLP,
    ManualMLP,
    layer_backward,
    layer_grad_norms,
    sigmoid_prime,
    xor_data,
)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    n=st.integers(1, 7),
    act=st.sampled_from(["sigmoid", "tanh", "identity", "relu"]),
    seed=st.integers(0, 10_000),
)
def test_manual_backward_matches_autograd(sizes, n, act, seed):
    g = torch.Generator().manual_seed(seed)
    torch.set_default_dtype(torch.float64)
    try:
        net = ManualMLP(sizes, activation=act, generator=g)
        X = torch.randn(n, sizes[0], generator=g)
        Y = torch.randn(n, sizes[-1], generator=g)
        loss, dWs, dbs = net.backward(X, Y)
        net.zero_grad()
        auto = net.loss(X, Y)
        auto.backward()
    finally:
        torch.set_default_dtype(torch.float32)
    assert float(loss) == pytest.approx(float(auto.detach()), rel=1e-12, abs=1e-12)
    for W, b, dW, db in zip(net.W, net.b, dWs, dbs):
        assert dW.shape == W.shape and db.shape == b.shape
        torch.testing.assert_close(dW, W.grad, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(db, b.grad, rtol=1e-9, atol=1e-12)


def test_manual_mlp_matches_torch_sequential_forward():
    net = ManualMLP([3, 5, 2], activation="tanh", generator=torch.Generator().manual_seed(0))
    seq = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    with torch.no_grad():
        seq[0].weight.copy_(net.W[0]); seq[0].bias.copy_(net.b[0])
        seq[2].weight.copy_(net.W[1]); seq[2].bias.copy_(net.b[1])
    X = torch.randn(4, 3)
    torch.testing.assert_close(net(X), seq(X))


def test_finite_differences_agree_with_manual_gradient():
    torch.set_default_dtype(torch.float64)
    try:
        net = ManualMLP([2, 3, 1], activation="sigmoid", generator=torch.Generator().manual_seed(3))
        X, Y = torch.randn(6, 2), torch.randn(6, 1)
        _, dWs, _ = net.backward(X, Y)
        eps = 1e-6
        with torch.no_grad():
            net.W[0][1, 0] += eps
            up = float(net.loss(X, Y))
            net.W[0][1, 0] -= 2 * eps
            down = float(net.loss(X, Y))
    finally:
        torch.set_default_dtype(torch.float32)
    assert (up - down) / (2 * eps) == pytest.approx(float(dWs[0][1, 0]), rel=1e-6)


def test_sgd_step_decreases_loss():
    g = torch.Generator().manual_seed(0)
    net = ManualMLP([1, 8, 1], activation="tanh", generator=g)
    X = torch.linspace(-1, 1, 20)[:, None]
    Y = torch.sin(3 * X)
    losses = [net.sgd_step(X, Y, lr=0.2) for _ in range(200)]
    assert losses[-1] < 0.5 * losses[0]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=1, max_size=20))
def test_sigmoid_prime_bounded_by_quarter(zs):
    z = torch.tensor(zs, dtype=torch.float64)
    d = sigmoid_prime(z)
    assert bool((d >= 0).all()) and bool((d <= 0.25 + 1e-15).all())
    # σ' is the autograd derivative of σ
    zr = z.clone().requires_grad_(True)
    torch.sigmoid(zr).sum().backward()
    torch.testing.assert_close(d, zr.grad)


@pytest.mark.parametrize("name", ["tanh", "relu", "identity", "sigmoid"])
def test_activation_derivatives_match_autograd(name):
    f, fp = ACTIVATIONS[name]
    z = torch.tensor([-2.0, -0.3, 0.4, 1.7], dtype=torch.float64, requires_grad=True)
    f(z).sum().backward()
    torch.testing.assert_close(fp(z.detach()), z.grad)


def test_layer_backward_first_layer_returns_none():
    dW, db, dprev = layer_backward(torch.ones(2, 3), torch.ones(3, 4), torch.ones(2, 4), None)
    assert dW.shape == (3, 4) and db.shape == (3,) and dprev is None


@pytest.mark.parametrize("norm,residual", [("none", False), ("batch", False), ("layer", False), ("none", True)])
def test_deep_mlp_grad_norms_shape(norm, residual):
    net = DeepMLP(4, 3, depth=5, width=8, activation="relu", init="he", norm=norm, residual=residual)
    net(torch.randn(10, 4)).pow(2).mean().backward()
    norms = layer_grad_norms(net)
    assert norms.shape == (7,) and bool((norms > 0).all())


def test_sigmoid_gradients_vanish_and_relu_he_does_not():
    torch.manual_seed(0)
    X = torch.randn(64, 16)
    ratios = {}
    for act, init in [("sigmoid", "default"), ("relu", "he")]:
        net = DeepMLP(16, 1, depth=15, width=32, activation=act, init=init)
        net(X).pow(2).mean().backward()
        for of in ("weight", "delta"):
            n = layer_grad_norms(net, of=of)
            ratios[act, of] = float(n[0] / n[-1])
    assert ratios["sigmoid", "weight"] < 1e-4 and ratios["sigmoid", "delta"] < 1e-4
    assert ratios["relu", "weight"] > 1e-2 and ratios["relu", "delta"] > 1e-2


def test_gain_greater_than_one_explodes():
    torch.manual_seed(0)
    X = torch.randn(64, 16)
    net = DeepMLP(16, 1, depth=15, width=32, activation="identity", init="xavier", gain=1.5)
    net(X).pow(2).mean().backward()
    n = layer_grad_norms(net, of="delta")
    assert float(n[0] / n[-1]) > 1e2  # ≈ 1.5^16 in theory


def test_delta_norms_match_manual_chain_rule():
    torch.manual_seed(1)
    net = DeepMLP(3, 2, depth=3, width=4, activation="tanh", init="xavier")
    X = torch.randn(5, 3)
    net(X).pow(2).sum().backward()
    # the last delta of E = Σ out² is 2·out; the one before is (δ W) ⊙ 1 (input of out is h, linear)
    out = net.z[-1].detach()
    torch.testing.assert_close(net.z[-1].grad, 2 * out)
    d_h = net.z[-1].grad @ net.out.weight.detach()
    torch.testing.assert_close(net.z[-2].grad, d_h * (1 - torch.tanh(net.z[-2].detach()) ** 2))
    assert layer_grad_norms(net, of="delta").shape == (5,)


def test_batched_xor_matches_single_nets():
    g = torch.Generator().manual_seed(0)
    nets = BatchedXORNet(3, hidden=2, generator=g)
    X, y = xor_data()
    losses = nets.loss(X, y)
    losses.sum().backward()
    r = 1
    W1 = nets.W1[r].detach().clone().requires_grad_(True)
    h = torch.sigmoid(X @ W1.T + nets.b1[r].detach())
    out = torch.sigmoid(h @ nets.W2[r].detach().T + nets.b2[r].detach())
    single = ((out - y) ** 2).mean()
    single.backward()
    assert float(single.detach()) == pytest.approx(float(losses[r].detach()), rel=1e-6)
    torch.testing.assert_close(W1.grad, nets.W1.grad[r])


def test_bad_inputs():
    with pytest.raises(ValueError, match="sizes"):
        ManualMLP([3])
    with pytest.raises(ValueError, match="activation"):
        ManualMLP([2, 2], activation="swish")
    with pytest.raises(ValueError, match="X"):
        ManualMLP([2, 2])(torch.ones(3, 5))
    with pytest.raises(ValueError, match="Y"):
        ManualMLP([2, 2]).backward(torch.ones(3, 2), torch.ones(3, 1))
    with pytest.raises(ValueError, match="W"):
        layer_backward(torch.ones(2, 3), torch.ones(4, 4), torch.ones(2, 4), None)
    with pytest.raises(ValueError, match="a_prev"):
        layer_backward(torch.ones(2, 3), torch.ones(3, 4), torch.ones(2, 5), None)
    with pytest.raises(ValueError, match="depth"):
        DeepMLP(2, 1, depth=0)
    with pytest.raises(ValueError, match="norm"):
        DeepMLP(2, 1, norm="group")
    with pytest.raises(ValueError, match="gain"):
        DeepMLP(2, 1, gain=-1.0)
    with pytest.raises(TypeError, match="model"):
        layer_grad_norms(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="of"):
        layer_grad_norms(DeepMLP(2, 1), of="bias")
    with pytest.raises(ValueError, match="backward"):
        layer_grad_norms(DeepMLP(2, 1))
    with pytest.raises(ValueError, match="n_nets"):
        BatchedXORNet(0)
