"""Tests for nnbook.metrics: digit classifier, Fréchet distance, k-NN precision/recall, edge energy, timing."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from nnbook import metrics as M


def spd(rng, d):
    A = rng.normal(size=(d, d))
    return A @ A.T + 0.1 * np.eye(d)


@settings(max_examples=30, deadline=None)
@given(mu1=st.floats(-5, 5), mu2=st.floats(-5, 5), s1=st.floats(0.1, 5), s2=st.floats(0.1, 5))
def test_frechet_1d_closed_form(mu1, mu2, s1, s2):
    fd = M.frechet_distance_gaussians([mu1], [[s1**2]], [mu2], [[s2**2]])
    assert fd == pytest.approx((mu1 - mu2) ** 2 + (s1 - s2) ** 2, rel=1e-7, abs=1e-9)


def test_frechet_1d_is_squared_wasserstein_of_quantiles():
    # in 1-D the optimal coupling matches quantiles: W2² = ∫₀¹ (F1⁻¹(u) − F2⁻¹(u))² du, integrated numerically
    from scipy.stats import norm
    u = (np.arange(200000) + 0.5) / 200000
    w2 = np.mean((norm.ppf(u, 1.0, 2.0) - norm.ppf(u, -0.5, 0.7)) ** 2)
    assert M.frechet_distance_gaussians([1.0], [[4.0]], [-0.5], [[0.49]]) == pytest.approx(w2, rel=1e-3)


def test_frechet_commuting_covariances_closed_form():
    # diagonal covariances commute: FD = |Δμ|² + Σ (σ1 − σ2)²
    rng = np.random.default_rng(0)
    v1, v2 = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    want = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert M.frechet_distance_gaussians(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(want, rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 6))
def test_frechet_properties(seed, d):
    rng = np.random.default_rng(seed)
    m1, m2, S1, S2 = rng.normal(size=d), rng.normal(size=d), spd(rng, d), spd(rng, d)
    assert M.frechet_distance_gaussians(m1, S1, m1, S1) == pytest.approx(0.0, abs=1e-7)
    a = M.frechet_distance_gaussians(m1, S1, m2, S2)
    assert a == pytest.approx(M.frechet_distance_gaussians(m2, S2, m1, S1), rel=1e-6, abs=1e-8)
    assert a >= 0
    shift = rng.normal(size=d)   # a common shift changes nothing
    assert M.frechet_distance_gaussians(m1 + shift, S1, m2 + shift, S2) == pytest.approx(a, rel=1e-9, abs=1e-9)


def test_frechet_distance_of_samples_uses_sample_moments():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 3)), 2.0 + 1.5 * rng.normal(size=(300, 3))
    want = M.frechet_distance_gaussians(a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T))
    assert M.frechet_distance(a, b) == pytest.approx(want, rel=1e-12)
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # a large sample of N(0, I) vs N(2·1, 2.25 I): 3·4 + 3·(1 − 1.5)² = 12.75
    assert M.frechet_distance(a, b) == pytest.approx(12.75, rel=0.15)


def test_precision_recall_toy_cases():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(200, 2))
    assert M.precision_recall(real, real, k=3) == (1.0, 1.0)
    collapsed = real[np.argsort(np.linalg.norm(real - real[0], axis=1))[:20]] + 1e-3  # one small region
    p, r = M.precision_recall(real, collapsed, k=3)
    assert p > 0.9 and r < 0.3
    far = rng.normal(loc=20.0, size=(200, 2))
    assert M.precision_recall(real, far, k=3) == (0.0, 0.0)


def test_precision_recall_brute_force():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(15, 2)), rng.normal(loc=0.5, size=(12, 2))
    k = 2
    def radius(X, i):
        return sorted(np.linalg.norm(X - X[i], axis=1))[k]
    prec = np.mean([any(np.linalg.norm(f - real[j]) <= radius(real, j) for j in range(15)) for f in fake])
    rec = np.mean([any(np.linalg.norm(r - fake[j]) <= radius(fake, j) for j in range(12)) for r in real])
    assert M.precision_recall(real, fake, k=k) == (pytest.approx(prec), pytest.approx(rec))


@pytest.fixture(scope="module")
def classifier():
    torch.set_num_threads(1)  # module-scoped: runs before the per-test fixture
    return M.train_digit_classifier(seed=0, epochs=6)


def test_classifier_learns_and_exposes_features(classifier):
    from nnbook.data import load_digits
    s = load_digits()
    assert classifier.test_accuracy_ > 0.85          # 6 epochs only; the default 30 epochs reach ~99 %
    f = M.digit_features(classifier, s.X_test[:20])
    P = M.digit_probabilities(classifier, s.X_test[:20])
    assert f.shape == (20, 64) and P.shape == (20, 10)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-6)
    ev = M.evaluate_samples(classifier, s.X_train[:200], s.X_test[:200])
    noise = np.random.default_rng(0).random((200, 64))
    ev_noise = M.evaluate_samples(classifier, s.X_train[:200], noise)
    assert ev["fd"] < ev_noise["fd"] and ev["recall"] > ev_noise["recall"]
    assert ev["class_hist"].sum() == pytest.approx(1.0)


def test_bad_input(classifier):
    with pytest.raises(ValueError, match="features_b"):
        M.frechet_distance(np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        M.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="finite"):
        M.frechet_distance(np.full((4, 2), np.nan), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="cov2"):
        M.frechet_distance_gaussians([0.0, 0.0], np.eye(2), [0.0, 0.0], np.eye(3))
    with pytest.raises(ValueError, match="fake"):
        M.precision_recall(np.zeros((10, 2)), np.zeros((3, 2)), k=3)
    with pytest.raises(TypeError, match="k"):
        M.precision_recall(np.zeros((10, 2)), np.zeros((10, 2)), k=1.5)
    with pytest.raises(ValueError, match=r"\(n, 64\)"):
        M.digit_features(classifier, np.zeros((3, 63)))
    with pytest.raises(TypeError, match="model"):
        M.digit_features(torch.nn.Linear(64, 10), np.zeros((3, 64)))
    with pytest.raises(ValueError, match="x must have shape"):
        classifier(torch.zeros(2, 1, 7, 7))


def test_edge_energy_against_hand_counts():
    stripes = torch.zeros(2, 8, 8, dtype=torch.float64)
    stripes[:, :, ::2] = 1.0                       # every horizontal pair differs by 1, no vertical pair does
    assert M.edge_energy(stripes.reshape(2, 64)) == pytest.approx(56 / 112)
    checker = torch.tensor([[(i + j) % 2 for j in range(8)] for i in range(8)], dtype=torch.float64)
    assert M.edge_energy(checker.reshape(1, 64)) == pytest.approx(1.0)   # every neighbour pair differs
    assert M.edge_energy(torch.full((3, 64), 0.7)) == 0.0
    X = torch.rand(4, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    img = X.numpy().reshape(-1, 8, 8)              # independent reference: numpy differences
    want = np.concatenate([np.diff(img, axis=2).reshape(4, -1), np.diff(img, axis=1).reshape(4, -1)], 1) ** 2
    assert M.edge_energy(X) == pytest.approx(want.mean(), rel=1e-12)


def test_timed_returns_the_result_and_the_cpu_seconds():
    def busy(n):
        return sum(i * i for i in range(n))

    result, seconds = M.timed(busy, 200_000)
    assert result == busy(200_000)
    assert 0.0 < seconds < 10.0
    (_, short), (_, long) = M.timed(busy, 1000), M.timed(busy, 2_000_000)
    assert short < long


@pytest.mark.parametrize("call, match", [
    (lambda: M.edge_energy(torch.zeros(2, 63)), "X must have shape"),
    (lambda: M.edge_energy(torch.zeros(0, 64)), "X must"),
    (lambda: M.timed("not callable"), "fn"),
])
def test_edge_energy_and_timed_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_train_digit_classifier_leaves_the_global_random_state_alone_and_is_reproducible():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = M.train_digit_classifier(seed=1, epochs=1)
    assert torch.equal(torch.get_rng_state(), before)      # the caller's next draws are unchanged
    b = M.train_digit_classifier(seed=1, epochs=1)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert a.test_accuracy_ == b.test_accuracy_
