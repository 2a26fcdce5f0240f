"""Tests of nnbook.rbm: Boltzmann machines, RBMs, DBNs."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbook import rbm as R
from nnbook.exercises import get, run_check

torch.set_default_dtype(torch.float32)


def random_bm(n, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    A = scale * torch.randn(n, n, generator=g, dtype=torch.float64)
    W = (A + A.T) / 2
    W.fill_diagonal_(0)
    return W, scale * torch.randn(n, generator=g, dtype=torch.float64)


def random_rbm(nv, nh, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    m = R.RBM(nv, nh).double()
    with torch.no_grad():
        m.W.copy_(scale * torch.randn(nv, nh, generator=g, dtype=torch.float64))
        m.b.copy_(scale * torch.randn(nv, generator=g, dtype=torch.float64))
        m.c.copy_(scale * torch.randn(nh, generator=g, dtype=torch.float64))
    return m


def brute_joint_logits(m):
    """−E(v, h) for every pair (v, h), shape (2^nv, 2^nh), by the definition of the energy."""
    v = R.all_binary_states(m.n_visible, dtype=torch.float64)
    h = R.all_binary_states(m.n_hidden, dtype=torch.float64)
    with torch.no_grad():
        return (v @ m.W) @ h.T + (v @ m.b)[:, None] + (h @ m.c)[None, :], v, h


# ------------------------------------------------------------------ Boltzmann machine
def test_all_binary_states():
    s = R.all_binary_states(3)
    assert s.shape == (8, 3)
    assert s[5].tolist() == [1, 0, 1]
    assert len({tuple(r) for r in s.tolist()}) == 8


def test_bm_energy_matches_double_sum():
    W, b = random_bm(4, 0)
    s = torch.tensor([[1.0, 0, 1, 1], [0, 1, 1, 0]], dtype=torch.float64)
    for row, e in zip(s, R.bm_energy(W, b, s)):
        want = -sum(W[i, j] * row[i] * row[j] for i in range(4) for j in range(i + 1, 4)) - (b * row).sum()
        assert float(e) == pytest.approx(float(want))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.floats(0.3, 5.0))
def test_boltzmann_ratio_property(seed, T):
    """p(s)/p(s') = exp(−(E(s) − E(s'))/T) for every pair of states."""
    W, b = random_bm(4, seed)
    states, p = R.boltzmann_distribution(W, b, T)
    E = R.bm_energy(W, b, states)
    assert float(p.sum()) == pytest.approx(1.0)
    assert torch.allclose(torch.log(p[1:] / p[0]), -(E[1:] - E[0]) / T, atol=1e-9)


def test_high_temperature_is_uniform():
    W, b = random_bm(4, 1)
    _, p = R.boltzmann_distribution(W, b, T=1e6)
    assert torch.allclose(p, torch.full_like(p, 1 / 16), atol=1e-5)


def test_gibbs_stationary_distribution_matches_enumeration():
    W, b = random_bm(5, 3)
    g = torch.Generator().manual_seed(0)
    samples = R.bm_gibbs(W, b, 60, T=1.5, n_chains=3000, generator=g)[20:]
    _, p = R.boltzmann_distribution(W, b, T=1.5)
    tv = R.total_variation(R.empirical_distribution(samples), p)
    assert tv < 0.02
    # a wrong temperature is clearly distinguishable
    _, p_wrong = R.boltzmann_distribution(W, b, T=0.5)
    assert R.total_variation(R.empirical_distribution(samples), p_wrong) > 0.1


# ------------------------------------------------------------------ RBM
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), nv=st.integers(1, 5), nh=st.integers(1, 4))
def test_free_energy_is_minus_log_sum_over_h(seed, nv, nh):
    m = random_rbm(nv, nh, seed)
    logits, v, _ = brute_joint_logits(m)
    with torch.no_grad():
        assert torch.allclose(m.free_energy(v), -torch.logsumexp(logits, 1), atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), nv=st.integers(1, 5), nh=st.integers(1, 5), scale=st.floats(0.1, 4.0))
def test_log_partition_against_all_pairs(seed, nv, nh, scale):
    """Both code paths (enumerate h, or enumerate v when h is bigger) give log Σ_{v,h} exp(−E)."""
    m = random_rbm(nv, nh, seed, scale)
    logits, _, _ = brute_joint_logits(m)
    assert float(m.log_partition()) == pytest.approx(float(torch.logsumexp(logits.flatten(), 0)), abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_conditional_independence_of_hidden_units(seed):
    """p(h | v) computed from the joint equals Π_j p(h_j | v) with p(h_j=1|v) = σ(c_j + vᵀW_:j)."""
    m = random_rbm(4, 3, seed)
    logits, v, h = brute_joint_logits(m)
    post = torch.softmax(logits, 1)                        # exact p(h | v), (16, 8)
    with torch.no_grad():
        ph = m.p_h(v)                                      # (16, 3)
        prod = torch.exp(h @ torch.log(ph).T + (1 - h) @ torch.log1p(-ph).T).T
        pv_given_h = torch.softmax(logits.T, 1)            # exact p(v | h)
        pv = m.p_v(h)
        prod_v = torch.exp(v @ torch.log(pv).T + (1 - v) @ torch.log1p(-pv).T).T
    assert torch.allclose(post, prod, atol=1e-10)
    assert torch.allclose(pv_given_h, prod_v, atol=1e-10)


def test_log_likelihood_gradient_is_data_minus_model():
    """Autograd of the exact mean log p(v) equals ⟨v p(h|v)ᵀ⟩_data − ⟨v hᵀ⟩_model (the gradient CD approximates)."""
    m = random_rbm(5, 3, 7)
    g = torch.Generator().manual_seed(1)
    X = (torch.rand(6, 5, generator=g) < 0.5).double()
    logits, v, h = brute_joint_logits(m)
    logZ = torch.logsumexp(((v @ m.W) @ h.T + (v @ m.b)[:, None] + (h @ m.c)[None, :]).flatten(), 0)
    ll = (-m.free_energy(X)).mean() - logZ
    ll.backward()
    with torch.no_grad():
        pos = X.T @ m.p_h(X) / len(X)
        P = torch.softmax(logits.flatten(), 0).reshape(logits.shape)
        neg = v.T @ P @ h
    assert torch.allclose(m.W.grad, pos - neg, atol=1e-10)


@pytest.fixture(scope="module")
def sklearn_rbm():
    from sklearn.neural_network import BernoulliRBM

    rng = np.random.RandomState(0)
    X = (rng.rand(40, 6) < 0.4).astype(float)
    return BernoulliRBM(n_components=3, n_iter=3, random_state=0).fit(X), X


def test_rbm_from_sklearn_keeps_its_float64_parameters(sklearn_rbm):
    sk, X = sklearn_rbm
    before = torch.get_rng_state()
    m = R.rbm_from_sklearn(sk)                                  # float64 arrays in, float64 RBM out
    assert torch.equal(torch.get_rng_state(), before)
    assert m.W.dtype == torch.float64
    assert np.array_equal(m.W.detach().numpy().T, sk.components_)
    assert np.array_equal(m.b.detach().numpy(), sk.intercept_visible_)
    assert np.array_equal(m.c.detach().numpy(), sk.intercept_hidden_)
    with torch.no_grad():
        fe = m.free_energy(torch.as_tensor(X))
    assert fe.dtype == torch.float64
    np.testing.assert_allclose(fe.numpy(), sk._free_energy(X), rtol=1e-12, atol=0)
    # scikit-learn's public score: the pseudo-likelihood n_visible · log σ(F(ṽ) − F(v)), with ṽ = v with one
    # random bit flipped (the bits drawn from its random_state, which we replay)
    flip = np.random.RandomState(sk.random_state).randint(0, X.shape[1], X.shape[0])
    X_ = X.copy()
    X_[np.arange(len(X)), flip] = 1 - X_[np.arange(len(X)), flip]
    with torch.no_grad():
        pl = X.shape[1] * F.logsigmoid(m.free_energy(torch.as_tensor(X_)) - fe)
    np.testing.assert_allclose(pl.numpy(), sk.score_samples(X), rtol=1e-12, atol=0)


def test_rbm_from_sklearn_honours_the_dtype_asked_for(sklearn_rbm):
    sk, X = sklearn_rbm
    m32 = R.rbm_from_sklearn(sk, dtype=torch.float32)
    assert all(p.dtype == torch.float32 for p in m32.parameters())
    with torch.no_grad():
        np.testing.assert_allclose(m32.free_energy(torch.as_tensor(X)).numpy(), sk._free_energy(X), rtol=1e-5)
    with pytest.raises(TypeError, match="dtype"):
        R.rbm_from_sklearn(sk, dtype=torch.int64)


def test_gibbs_step_shapes_and_binary():
    m = random_rbm(6, 4, 0)
    v = (torch.rand(5, 6) < 0.5).double()
    v2, h = m.gibbs_step(v)
    assert v2.shape == (5, 6) and h.shape == (5, 4)
    assert bool(((v2 == 0) | (v2 == 1)).all()) and bool(((h == 0) | (h == 1)).all())


@pytest.fixture(scope="module")
def digits():
    from nnbook.data import load_digits

    d = load_digits(binarize=True)
    return torch.as_tensor(d.X_train[:400]), torch.as_tensor(d.X_test[:200])


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_training_raises_exact_log_likelihood(digits, method):
    Xtr, Xte = digits
    torch.manual_seed(0)
    m = R.RBM(64, 8, init_std=0.1)
    hist = R.train_rbm(m, Xtr, method=method, k=1, lr=0.05, epochs=4, batch_size=20, X_test=Xte, eval_every=2)
    assert hist.epoch == [0, 2, 4]
    assert hist.test_ll[-1] > hist.test_ll[0] + 3
    assert hist.train_ll[-1] == pytest.approx(m.log_likelihood(Xtr), abs=1e-3)


def test_history_records_the_final_model_on_each_split(digits):
    Xtr, Xte = digits
    torch.manual_seed(0)
    m = R.RBM(64, 8, init_std=0.1)
    hist = R.train_rbm(m, Xtr, method="pcd", lr=0.05, epochs=3, batch_size=20, X_test=Xte, eval_every=1)
    n = len(hist.epoch)
    assert all(len(x) == n for x in (hist.log_z, hist.train_fe, hist.test_fe, hist.pos_fe, hist.neg_fe))
    assert hist.log_z[-1] == pytest.approx(float(m.log_partition()), abs=1e-4)
    with torch.no_grad():
        assert hist.train_fe[-1] == pytest.approx(float(m.free_energy(Xtr).mean()), abs=1e-4)
        assert hist.test_fe[-1] == pytest.approx(float(m.free_energy(Xte).mean()), abs=1e-4)
    assert hist.test_ll[-1] == pytest.approx(m.log_likelihood(Xte), abs=1e-4)
    assert abs(hist.test_fe[-1] - hist.train_fe[-1]) > 0.01        # so a swapped split would be caught
    assert math.isnan(hist.pos_fe[0]) and math.isnan(hist.neg_fe[0])
    assert all(math.isfinite(x) for x in hist.pos_fe[1:] + hist.neg_fe[1:])


def test_history_matches_brute_force_enumeration():
    # a 6–3 RBM: every recorded number against log p(v) = logsumexp_h(−E(v, h)) − logsumexp_{v,h}(−E(v, h)),
    # summed over all 2^6 · 2^3 pairs by the definition of the energy; train and test come from different
    # distributions, so a swapped split, a stale record or a wrong log Z fails
    g = torch.Generator().manual_seed(0)
    Xtr = (torch.rand(200, 6, generator=g, dtype=torch.float64) < 0.3).double()
    Xte = (torch.rand(100, 6, generator=g, dtype=torch.float64) < 0.6).double()
    m = random_rbm(6, 3, 0, scale=0.3)
    hist = R.train_rbm(m, Xtr, method="cd", lr=0.1, epochs=3, batch_size=20, X_test=Xte, eval_every=1, generator=g)
    logits, v_all, _ = brute_joint_logits(m)
    log_z = float(torch.logsumexp(logits.flatten(), 0))
    minus_f = torch.logsumexp(logits, 1)                                # −F(v) for each of the 64 states
    row = lambda X: (X[:, None, :] == v_all[None]).all(-1).double().argmax(1)
    fe_tr, fe_te = float(-minus_f[row(Xtr)].mean()), float(-minus_f[row(Xte)].mean())
    assert abs(fe_te - fe_tr) > 0.1
    assert hist.log_z[-1] == pytest.approx(log_z, abs=1e-6)
    assert hist.train_fe[-1] == pytest.approx(fe_tr, abs=1e-6) and hist.test_fe[-1] == pytest.approx(fe_te, abs=1e-6)
    assert hist.train_ll[-1] == pytest.approx(-fe_tr - log_z, abs=1e-6)
    assert hist.test_ll[-1] == pytest.approx(-fe_te - log_z, abs=1e-6)


def test_positive_and_negative_free_energies_against_their_definitions():
    # with W = 0 and a vanishing learning rate nothing changes, so
    # pos_fe = mean F(data) exactly, and a negative sample is v ~ Bernoulli(σ(b)) whatever the data:
    # E[F(v)] = −Σ_i b_i σ(b_i) − Σ_j softplus(c_j)
    g = torch.Generator().manual_seed(0)
    X = (torch.rand(3000, 10, generator=g) < 0.3).float()
    m = R.RBM(10, 4, init_std=0.0)
    with torch.no_grad():
        m.b.copy_(torch.randn(10, generator=g)), m.c.copy_(torch.randn(4, generator=g))
    with torch.no_grad():
        want_pos = float(m.free_energy(X).mean())
    hist = R.train_rbm(m, X, method="cd", lr=1e-9, epochs=1, batch_size=50, eval_every=1, generator=g)
    assert hist.pos_fe[1] == pytest.approx(want_pos, abs=1e-4)
    with torch.no_grad():
        p = torch.sigmoid(m.b)
        want_neg = float(-(m.b * p).sum() - F.softplus(m.c).sum())
        sd = float(torch.sqrt((m.b ** 2 * p * (1 - p)).sum()))          # std of F(v) for one sample
    assert hist.neg_fe[1] == pytest.approx(want_neg, abs=5 * sd / math.sqrt(len(X)))
    assert abs(hist.neg_fe[1] - hist.pos_fe[1]) > 10 * sd / math.sqrt(len(X))   # the data is not the model


def test_train_rbm_with_a_generator_leaves_the_global_random_state_alone(digits):
    Xtr, Xte = digits

    def run(seed):
        m = R.RBM(64, 8, init_std=0.1, generator=torch.Generator().manual_seed(seed))
        hist = R.train_rbm(m, Xtr[:100], method="pcd", epochs=2, batch_size=20, X_test=Xte[:50], eval_every=1,
                           generator=torch.Generator().manual_seed(seed))
        return m, hist

    torch.manual_seed(123)
    before = torch.get_rng_state()
    m1, h1 = run(7)
    assert torch.equal(torch.get_rng_state(), before)            # every draw came from the generator
    torch.manual_seed(456)                                       # another global state: the same run
    m2, h2 = run(7)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert h1 == h2 and len(h1.recon) == 3
    m3, _ = run(8)
    assert not torch.equal(m1.W, m3.W)


def test_dbn_with_tied_top_equals_rbm_and_matches_brute_force():
    m1 = random_rbm(4, 3, 11)
    top = R.RBM(3, 4).double()
    with torch.no_grad():
        top.W.copy_(m1.W.T), top.b.copy_(m1.c), top.c.copy_(m1.b)
    dbn = R.DBN(m1, top)
    v = R.all_binary_states(4, dtype=torch.float64)
    assert dbn.log_likelihood(v) == pytest.approx(m1.log_likelihood(v), abs=1e-9)
    # an untied top RBM: compare with Σ_{h1,h2} p(v|h1) exp(−E_top(h1,h2)) / Z_top by brute force
    dbn.top = random_rbm(3, 2, 5)
    h1 = R.all_binary_states(3, dtype=torch.float64)
    logits_top, _, _ = brute_joint_logits(dbn.top)
    log_p_h1 = torch.logsumexp(logits_top, 1) - torch.logsumexp(logits_top.flatten(), 0)
    with torch.no_grad():
        pv = torch.sigmoid(h1 @ dbn.G + dbn.gb)                      # (8, 4)
    lik = torch.exp(v @ torch.log(pv).T + (1 - v) @ torch.log1p(-pv).T)   # (16, 8)
    want = torch.log(lik @ torch.exp(log_p_h1)).mean()
    assert dbn.log_likelihood(v) == pytest.approx(float(want), abs=1e-9)


def test_wake_sleep_changes_both_directions(digits):
    Xtr, _ = digits
    torch.manual_seed(0)
    m1 = R.RBM(64, 6, init_std=0.1)
    R.train_rbm(m1, Xtr, epochs=1, eval_every=0)
    dbn = R.DBN(m1, R.RBM(6, 5, init_std=0.1))
    before = copy.deepcopy(dbn.state_dict())
    R.wake_sleep(dbn, Xtr, lr=0.01, epochs=1)
    after = dbn.state_dict()
    for name in ("G", "R", "top.W"):
        assert not torch.equal(before[name], after[name]), name
    assert math.isfinite(dbn.log_likelihood(Xtr[:20]))
    assert dbn.sample(3, n_gibbs=5).shape == (3, 64)


# ------------------------------------------------------------------ bad input
def test_bad_input_errors():
    W, b = random_bm(3, 0)
    with pytest.raises(ValueError, match="T"):
        R.boltzmann_distribution(W, b, T=-1.0)
    with pytest.raises(ValueError, match="T"):
        R.bm_gibbs(W, b, 3, T=0.0)
    with pytest.raises(ValueError, match="W"):
        R.boltzmann_distribution(W + torch.triu(torch.ones(3, 3, dtype=W.dtype), 1), b)
    with pytest.raises(ValueError, match="b"):
        R.boltzmann_distribution(W, torch.zeros(4))
    m = R.RBM(4, 2)
    with pytest.raises(ValueError, match="X"):
        R.train_rbm(m, torch.rand(5, 4) * 0.5 + 0.25)
    with pytest.raises(ValueError, match="X"):
        R.train_rbm(m, torch.ones(5, 3))
    with pytest.raises(ValueError, match="k"):
        R.train_rbm(m, torch.ones(5, 4), k=0)
    with pytest.raises(ValueError, match="method"):
        R.train_rbm(m, torch.ones(5, 4), method="ml")
    with pytest.raises(ValueError, match="v"):
        m.free_energy(torch.ones(5, 3))
    with pytest.raises(ValueError, match="v"):
        m.p_h(torch.full((2, 4), 0.5))
    with pytest.raises(ValueError, match="n_hidden"):
        R.RBM(4, 0)
    with pytest.raises(TypeError, match="rbm"):
        R.train_rbm("not an rbm", torch.ones(5, 4))
    with pytest.raises(ValueError, match="rbm2"):
        R.DBN(R.RBM(4, 3), R.RBM(2, 2))


# ------------------------------------------------------------------ checkers
@pytest.mark.parametrize("name", ["rbm.free_energy", "rbm.gibbs_probs", "rbm.log_partition"])
def test_checkers_accept_reference_and_reject_wrong(name):
    ex = get(name)
    assert run_check(name, ex.reference).passed
    for wrong in ex.wrong:
        assert not run_check(name, wrong).passed
