"""Tests for nnbook.rnn: hand BPTT vs autograd, the tricks, LSTM/GRU steps and counts."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nnbook import rnn as R

FAST = settings(max_examples=15, deadline=None)


def _params(B, T, I, H, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, I, generator=g, dtype=dtype)
    W_xh = torch.randn(H, I, generator=g, dtype=dtype) / math.sqrt(I)
    W_hh = torch.randn(H, H, generator=g, dtype=dtype) / math.sqrt(H)
    b = torch.randn(H, generator=g, dtype=dtype) * 0.1
    h0 = torch.randn(B, H, generator=g, dtype=dtype) * 0.5
    return x, W_xh, W_hh, b, h0


@FAST
@given(B=st.integers(1, 3), T=st.integers(1, 7), I=st.integers(1, 4), H=st.integers(1, 5),
       act=st.sampled_from(["tanh", "linear"]), seed=st.integers(0, 10_000))
def test_bptt_matches_autograd(B, T, I, H, act, seed):
    x, W_xh, W_hh, b, h0 = _params(B, T, I, H, seed)
    leaves = [t.clone().requires_grad_(True) for t in (W_xh, W_hh, b, h0)]
    hs = R.rnn_forward(x, *leaves[:3], h0=leaves[3], nonlinearity=act)
    g = torch.Generator().manual_seed(seed + 1)
    grad_hs = torch.randn(B, T, H, generator=g, dtype=torch.float64)
    (hs * grad_hs).sum().backward()
    got = R.rnn_bptt(x, hs.detach(), grad_hs, W_xh, W_hh, b, h0=h0, nonlinearity=act)
    for name, leaf in zip(["W_xh", "W_hh", "b", "h0"], leaves):
        torch.testing.assert_close(got[name], leaf.grad, rtol=1e-9, atol=1e-10)


def test_forward_matches_torch_rnn():
    x, W_xh, W_hh, b, h0 = _params(2, 6, 3, 4, 0)
    ref = nn.RNN(3, 4, batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(W_xh)
        ref.weight_hh_l0.copy_(W_hh)
        ref.bias_ih_l0.copy_(b)
        ref.bias_hh_l0.zero_()
    out, _ = ref(x, h0[None])
    torch.testing.assert_close(R.rnn_forward(x, W_xh, W_hh, b, h0=h0), out)


@FAST
@given(H=st.integers(1, 6), sigma=st.floats(0.3, 1.5), T=st.integers(2, 12), seed=st.integers(0, 1000))
def test_jacobian_norms_linear_equal_sigma_power(H, sigma, T, seed):
    """Theorem: with W_hh = σQ and f = identity, ‖∂h_T/∂h_{T-k}‖ = σ^k exactly."""
    W = R.scaled_orthogonal(H, sigma, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(torch.linalg.svdvals(W), torch.full((H,), sigma, dtype=torch.float64))
    hs = torch.randn(T, H, dtype=torch.float64)  # ignored for the linear map
    norms = R.jacobian_norms(W, hs, nonlinearity="linear")
    torch.testing.assert_close(norms, torch.tensor([sigma**k for k in range(T)], dtype=torch.float64))


@FAST
@given(H=st.integers(1, 5), sigma=st.floats(0.3, 2.0), T=st.integers(2, 8), seed=st.integers(0, 1000))
def test_jacobian_norms_tanh_bounded_and_match_autograd(H, sigma, T, seed):
    """Theorem: ‖∂h_T/∂h_{T-k}‖ ≤ (σ_max · max|tanh'|)^k = σ_max^k; and the product equals autograd's Jacobian."""
    g = torch.Generator().manual_seed(seed)
    W = R.scaled_orthogonal(H, sigma, g)
    x = torch.randn(1, T, 1, generator=g, dtype=torch.float64)
    W_xh = torch.randn(H, 1, generator=g, dtype=torch.float64)
    b = torch.zeros(H, dtype=torch.float64)
    hs = R.rnn_forward(x, W_xh, W, b)[0]
    norms = R.jacobian_norms(W, hs)
    assert all(n <= sigma**k * (1 + 1e-9) + 1e-12 for k, n in enumerate(norms.tolist()))
    # autograd: h_T as a function of h_1 (re-running steps 2..T from h_1)
    def tail(h1):
        h = h1[None]
        for t in range(1, T):
            h = torch.tanh(x[:, t] @ W_xh.T + h @ W.T + b)
        return h[0]
    J = torch.autograd.functional.jacobian(tail, hs[0])
    assert abs(float(torch.linalg.matrix_norm(J, ord=2)) - float(norms[-1])) < 1e-9


@FAST
@given(n=st.integers(1, 4), scale=st.floats(1e-3, 1e3), theta=st.floats(1e-2, 1e2), seed=st.integers(0, 1000))
def test_clip_never_exceeds_theta_and_matches_torch(n, scale, theta, seed):
    g = torch.Generator().manual_seed(seed)
    grads = [torch.randn(3, 2, generator=g, dtype=torch.float64) * scale for _ in range(n)]
    clipped, total = R.clip_grad_norm(grads, theta)
    new_norm = float(torch.linalg.vector_norm(torch.cat([c.flatten() for c in clipped])))
    assert new_norm <= theta * (1 + 1e-9)
    old = torch.cat([c.flatten() for c in grads])
    new = torch.cat([c.flatten() for c in clipped])
    assert float(torch.nn.functional.cosine_similarity(old, new, dim=0)) > 1 - 1e-9  # direction kept
    if total <= theta:
        torch.testing.assert_close(new, old)  # untouched below the threshold
    params = [torch.zeros(3, 2, dtype=torch.float64, requires_grad=True) for _ in range(n)]
    for p, gr in zip(params, grads):
        p.grad = gr.clone()
    ref_total = torch.nn.utils.clip_grad_norm_(params, theta)
    assert abs(float(ref_total) - total) <= 1e-9 * max(1.0, total)
    # torch divides by (‖g‖ + 1e-6) instead of ‖g‖: the two differ by a relative 1e-6/‖g‖ at most
    for p, c in zip(params, clipped):
        torch.testing.assert_close(p.grad, c, rtol=2e-6 / total + 1e-9, atol=1e-12)


def test_layer_norm_matches_torch():
    a = torch.randn(4, 5, 6, dtype=torch.float64)
    ln = nn.LayerNorm(6).double()
    with torch.no_grad():
        ln.weight.uniform_(0.5, 2)
        ln.bias.uniform_(-1, 1)
    torch.testing.assert_close(R.layer_norm(a, ln.weight, ln.bias), ln(a))
    out = R.layer_norm(a)
    torch.testing.assert_close(out.mean(-1), torch.zeros(4, 5, dtype=torch.float64), atol=1e-12, rtol=0)


def test_variational_dropout_one_mask_for_all_steps():
    torch.manual_seed(0)
    m = R.ElmanRNN(2, 16, dropout=0.5, dropout_kind="variational")
    m.train()
    m(torch.randn(3, 7, 2))
    assert len(m.last_masks) == 7
    assert all(torch.equal(mask, m.last_masks[0]) for mask in m.last_masks)
    assert set(m.last_masks[0].unique().tolist()) <= {0.0, 2.0}
    naive = R.ElmanRNN(2, 16, dropout=0.5, dropout_kind="naive").train()
    naive(torch.randn(3, 7, 2))
    assert not all(torch.equal(mask, naive.last_masks[0]) for mask in naive.last_masks)
    m.eval()
    m(torch.randn(3, 7, 2))
    assert m.last_masks == []  # no dropout at evaluation


def test_variational_mask_expectation():
    mask = R.variational_mask(2000, 50, 0.3, generator=torch.Generator().manual_seed(0))
    assert abs(float(mask.mean()) - 1.0) < 0.02
    assert abs(float((mask == 0).float().mean()) - 0.3) < 0.01


def test_truncated_bptt_blocks_gradient_before_window():
    torch.manual_seed(0)
    m = R.ElmanRNN(1, 4)
    x = torch.randn(2, 12, 1, requires_grad=True)
    m(x, detach_every=5)[:, -1].sum().backward()
    # the last chunk starts at t = 10: no gradient reaches the inputs before it
    assert float(x.grad[:, :10].abs().sum()) == 0.0
    assert float(x.grad[:, 10:].abs().sum()) > 0.0
    x.grad = None
    m(x)[:, -1].sum().backward()
    assert float(x.grad[:, 0].abs().sum()) > 0.0


def test_lstm_and_gru_steps_match_torch_cells():
    torch.manual_seed(0)
    x, h, c = torch.randn(3, 4), torch.randn(3, 5), torch.randn(3, 5)
    cell = nn.LSTMCell(4, 5)
    h_ref, c_ref = cell(x, (h, c))
    h_got, c_got = R.lstm_step(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    torch.testing.assert_close(h_got, h_ref)
    torch.testing.assert_close(c_got, c_ref)
    gcell = nn.GRUCell(4, 5)
    torch.testing.assert_close(R.gru_step(x, h, gcell.weight_ih, gcell.weight_hh, gcell.bias_ih, gcell.bias_hh), gcell(x, h))


@settings(max_examples=20, deadline=None)
@given(I=st.integers(1, 40), H=st.integers(1, 40), bias=st.booleans())
def test_param_counts_match_torch_and_gru_is_three_quarters(I, H, bias):
    for fn, cls in [(R.rnn_param_count, nn.RNN), (R.lstm_param_count, nn.LSTM), (R.gru_param_count, nn.GRU)]:
        assert fn(I, H, bias) == sum(p.numel() for p in cls(I, H, bias=bias).parameters())
    assert 4 * R.gru_param_count(I, H, bias) == 3 * R.lstm_param_count(I, H, bias)


def test_training_reduces_loss_and_clipping_bounds_norm():
    from nnbook.data import adding_problem

    X, y = adding_problem(200, 6, seed=0)
    torch.manual_seed(0)
    m = R.GatedRegressor("gru", 2, 8)
    before = R.evaluate_mse(m, X, y)
    res = R.train_regressor(m, X, y, steps=60, batch_size=32, lr=1e-2, clip=0.5)
    assert R.evaluate_mse(m, X, y) < before
    assert len(res.loss) == 60 and not res.diverged
    # with plain SGD one step moves the parameters by exactly lr · min(‖g‖, θ): the clipped norm
    clip, lr = 0.05, 0.1
    for seed in range(4):
        old = torch.cat([p.detach().flatten().clone() for p in m.parameters()])
        one = R.train_regressor(m, X, y, steps=1, batch_size=32, lr=lr, optimizer="sgd", clip=clip, seed=seed)
        step = torch.cat([p.detach().flatten() for p in m.parameters()]) - old
        assert one.grad_norm[0] > clip                                   # the raw gradient is above θ ...
        assert float(step.norm()) == pytest.approx(lr * clip, rel=1e-4)  # ... the step used is exactly θ
    # and a threshold above the norm leaves the gradient untouched
    old = torch.cat([p.detach().flatten().clone() for p in m.parameters()])
    one = R.train_regressor(m, X, y, steps=1, batch_size=32, lr=lr, optimizer="sgd", clip=1e6)
    step = torch.cat([p.detach().flatten() for p in m.parameters()]) - old
    assert float(step.norm()) == pytest.approx(lr * one.grad_norm[0], rel=1e-4)


def test_train_regressor_is_the_loop_written_out_and_leaves_the_global_rng_alone():
    from nnbook.data import adding_problem

    X, y = (torch.as_tensor(a, dtype=torch.float32) for a in adding_problem(100, 5, seed=1))
    torch.manual_seed(0)
    init = R.GatedRegressor("lstm", 2, 6).state_dict()
    ref = R.GatedRegressor("lstm", 2, 6)
    ref.load_state_dict(init)
    opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    g, want_loss, want_norm = torch.Generator().manual_seed(3), [], []
    for _ in range(12):                                      # the reference: the loop written out
        idx = torch.randint(100, (16,), generator=g)
        loss = ((ref(X[idx])[:, -1, 0] - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        want_norm.append(float(torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.3)))
        want_loss.append(loss.item())
        opt.step()
    for _ in range(2):
        m = R.GatedRegressor("lstm", 2, 6)
        m.load_state_dict(init)
        state = torch.get_rng_state()
        res = R.train_regressor(m, X, y, steps=12, batch_size=16, lr=0.05, optimizer="momentum", clip=0.3, seed=3)
        assert torch.equal(torch.get_rng_state(), state)     # the caller's random stream is untouched
        assert res.loss == want_loss and res.grad_norm == want_norm and not res.diverged
        for a, b in zip(m.parameters(), ref.parameters()):
            assert torch.equal(a, b)


def test_divergence_stops_before_the_update():
    from nnbook.data import adding_problem

    X, y = adding_problem(100, 5, seed=1)
    torch.manual_seed(0)
    m = R.ElmanRNN(2, 8, w_scale=3.0)
    res = R.train_regressor(m, X, y, steps=200, batch_size=16, lr=5.0, optimizer="sgd")
    assert res.diverged and len(res.loss) < 200
    last = res.loss[-1], res.grad_norm[-1]
    assert not (math.isfinite(last[0]) and last[0] <= 1e6 and math.isfinite(last[1]))   # the step that diverged ...
    assert all(math.isfinite(v) for v in res.loss[:-1])                                 # ... is the first such one
    assert all(torch.isfinite(p).all() for p in m.parameters())                         # and was not applied


# ------------------------------------------------------------------ bad input
def test_bad_input_errors():
    x, W_xh, W_hh, b, h0 = _params(2, 3, 2, 4, 0)
    with pytest.raises(ValueError, match="x"):
        R.rnn_forward(x[0], W_xh, W_hh, b)  # rank 2 instead of 3
    with pytest.raises(ValueError, match="W_xh"):
        R.rnn_forward(x, W_xh[:3], W_hh, b)  # hidden sizes mismatched
    with pytest.raises(ValueError, match="W_hh"):
        R.rnn_forward(x, W_xh, W_hh[:, :3], b)
    with pytest.raises(ValueError, match="b"):
        R.rnn_forward(x, W_xh, W_hh, b[:3])
    with pytest.raises(ValueError, match="h0"):
        R.rnn_forward(x, W_xh, W_hh, b, h0=h0[:, :2])
    with pytest.raises(ValueError, match="nonlinearity"):
        R.rnn_forward(x, W_xh, W_hh, b, nonlinearity="relu6")
    with pytest.raises(ValueError, match="grad_hs"):
        R.rnn_bptt(x, torch.zeros(2, 3, 4), torch.zeros(2, 3, 5), W_xh, W_hh, b)
    with pytest.raises(ValueError, match="max_norm"):
        R.clip_grad_norm([torch.ones(3)], 0.0)
    with pytest.raises(ValueError, match="max_norm"):
        R.clip_grad_norm([torch.ones(3)], -1.0)
    with pytest.raises(TypeError, match="grads"):
        R.clip_grad_norm([1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="clip"):
        R.train_regressor(R.GatedRegressor("gru", 2, 3), torch.zeros(4, 5, 2), torch.zeros(4), clip=0)
    with pytest.raises(ValueError, match="x"):
        R.ElmanRNN(2, 3)(torch.zeros(4, 5, 3))  # wrong number of features
    with pytest.raises(ValueError, match="x"):
        R.GatedRegressor("lstm", 2, 3)(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="kind"):
        R.GatedRegressor("transformer", 2, 3)
    with pytest.raises(ValueError, match="dropout"):
        R.ElmanRNN(2, 3, dropout=1.0)
    with pytest.raises(ValueError, match="p"):
        R.variational_mask(2, 3, -0.1)
    with pytest.raises(ValueError, match="W_ih"):
        R.lstm_step(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(12, 3), torch.zeros(16, 4),
                    torch.zeros(16), torch.zeros(16))
    with pytest.raises(ValueError, match="hidden_size"):
        R.lstm_param_count(3, 0)
    with pytest.raises(ValueError, match="hs"):
        R.jacobian_norms(torch.eye(3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="gain"):
        R.layer_norm(torch.zeros(2, 4), gain=torch.ones(3))
    with pytest.raises(ValueError, match="detach_every"):
        R.ElmanRNN(2, 3)(torch.zeros(1, 4, 2), detach_every=0)


# ------------------------------------------------------------ the copy task
def test_forget_bias_sets_only_the_forget_block():
    torch.manual_seed(0)
    m = R.GatedRegressor("lstm", 3, 5, forget_bias=1.0)
    b_ih, b_hh = m.core.bias_ih_l0.detach(), m.core.bias_hh_l0.detach()
    assert torch.all(b_ih[5:10] == 1.0) and torch.all(b_hh[5:10] == 0.0)      # gate order i, f, g, o
    torch.manual_seed(0)
    ref = R.GatedRegressor("lstm", 3, 5)
    for blk in (slice(0, 5), slice(10, 20)):                                  # the other blocks are untouched
        assert torch.equal(b_ih[blk], ref.core.bias_ih_l0.detach()[blk])
    # the initial forget gate is σ(1) for a zero input and state (hand-computed with lstm_step)
    x, h, c = torch.zeros(1, 3), torch.zeros(1, 5), torch.ones(1, 5)
    core = m.core
    with torch.no_grad():
        m.core.bias_ih_l0.zero_(); m.core.bias_hh_l0.zero_(); m.core.bias_ih_l0[5:10] = 1.0
        m.core.bias_ih_l0[10:15] = -100.0    # candidate g = tanh(-100) = -1, input gate σ(0) = 1/2
        _, c1 = R.lstm_step(x, h, c, core.weight_ih_l0, core.weight_hh_l0, core.bias_ih_l0, core.bias_hh_l0)
    torch.testing.assert_close(c1, torch.full((1, 5), torch.sigmoid(torch.tensor(1.0)).item() - 0.5))


@FAST
@given(n=st.integers(1, 6), T=st.integers(1, 7), K=st.integers(2, 5), seed=st.integers(0, 1000))
def test_token_accuracy_matches_hand_count(n, T, K, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(K, (n, T), generator=g)
    y = torch.randint(K, (n, T), generator=g)
    y[torch.rand(n, T, generator=g) < 0.3] = -100
    y[0, 0] = 1                                            # at least one targeted step
    torch.manual_seed(seed)
    m = R.GatedRegressor("gru", K, 4, output_size=K)
    with torch.no_grad():
        pred = m(torch.nn.functional.one_hot(X, K).float()).argmax(-1)
    keep = y != -100
    assert R.token_accuracy(m, X, y) == pytest.approx(float((pred[keep] == y[keep]).float().mean()))


def test_copy_task_is_learnt_at_a_short_delay():
    from nnbook.data import copy_task

    X, y = (torch.as_tensor(a) for a in copy_task(400, 2, 3, 2, seed=0))
    y[:, :-2] = -100
    torch.manual_seed(0)
    m = R.GatedRegressor("gru", 5, 16, output_size=4)
    before = R.token_accuracy(m, X, y)
    res = R.train_token_classifier(m, X, y, steps=150, batch_size=32, lr=1e-2)
    assert len(res.loss) == 150 and max(res.grad_norm) < float("inf")
    assert R.token_accuracy(m, X, y) > 0.9 > before + 0.3


def test_copy_helpers_bad_input():
    m = R.GatedRegressor("gru", 4, 3, output_size=4)
    X = torch.zeros(2, 5, dtype=torch.long)
    with pytest.raises(TypeError, match="torch.long"):
        R.train_token_classifier(m, X.float(), X)
    with pytest.raises(ValueError, match="same shape"):
        R.token_accuracy(m, X, X[:, :4])
    with pytest.raises(ValueError, match="input_size"):
        R.token_accuracy(m, X + 4, X)
    with pytest.raises(ValueError, match="no targeted step"):
        R.token_accuracy(m, X, torch.full_like(X, -100))
    with pytest.raises(ValueError, match="clip"):
        R.train_token_classifier(m, X, X, clip=-1.0)
    with pytest.raises(TypeError, match="model"):
        R.train_token_classifier(torch.nn.Linear(2, 2), X, X)
    with pytest.raises(ValueError, match="forget_bias"):
        R.GatedRegressor("gru", 2, 3, forget_bias=1.0)
    with pytest.raises(TypeError, match="forget_bias"):
        R.GatedRegressor("lstm", 2, 3, forget_bias="1")
