"""Tests for nnbook.rbf: the Gaussian design matrix, two-stage RBF training, PRBF."""
import numpy as np
import pytest
import torch
from hypothesis import example, given, settings, strategies as st
from sklearn.linear_model import Ridge

from nnbook.rbf import PNN, PRBF, RBFNetwork, SelfOrganizingMap, gaussian_design_matrix, kmeans, width_from_spacing


def test_design_matrix_against_brute_force():
    g = torch.Generator().manual_seed(0)
    X, C = torch.randn(5, 3, generator=g), torch.randn(4, 3, generator=g)
    Phi = gaussian_design_matrix(X, C, 0.8)
    for n in range(5):
        for j in range(4):
            want = float(torch.exp(-((X[n] - C[j]) ** 2).sum() / (2 * 0.8**2)))
            assert float(Phi[n, j]) == pytest.approx(want, rel=1e-5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), width=st.floats(0.1, 5.0))
@example(seed=132, width=0.1015625)  # found by CI: entries underflow to exactly 0.0
def test_design_matrix_is_in_unit_interval_and_one_at_centres(seed, width):
    g = torch.Generator().manual_seed(seed)
    C = torch.randn(4, 2, generator=g, dtype=torch.float64)
    Phi = gaussian_design_matrix(C, C, width)
    # exp(-d²/2σ²) > 0 in exact arithmetic; far from a narrow centre it underflows to 0.0
    assert torch.all((Phi >= 0) & (Phi <= 1))
    d2 = torch.cdist(C, C) ** 2
    assert torch.all(Phi[d2 / (2 * width**2) < 700] > 0)  # positive wherever exp is representable
    torch.testing.assert_close(torch.diagonal(Phi), torch.ones(4, dtype=torch.float64))


def test_width_heuristic():
    C = torch.tensor([[0.0], [1.0], [3.0]])
    assert width_from_spacing(C) == pytest.approx(3.0 / np.sqrt(6))


def test_output_weights_equal_ridge_least_squares():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (80, 2))
    y = np.sin(3 * X[:, 0]) * X[:, 1]
    net = RBFNetwork(2, 10).double().fit(torch.tensor(X), torch.tensor(y), ridge=1e-3)
    Phi = gaussian_design_matrix(torch.tensor(X), net.centres, float(net.width)).numpy()
    # our ridge also penalises the bias: reproduce with an explicit ones column, no intercept
    ref = Ridge(alpha=1e-3, fit_intercept=False).fit(np.c_[Phi, np.ones(80)], y)
    np.testing.assert_allclose(net.out.weight.detach().numpy()[0], ref.coef_[:-1], rtol=1e-6, atol=1e-8)


def test_rbf_fits_smooth_function_and_is_local():
    rng = np.random.default_rng(1)
    X = torch.tensor(rng.uniform(-2, 2, (200, 1)))
    y = torch.sin(2 * X[:, 0])
    net = RBFNetwork(1, 15).double().fit(X, y, width_scale=0.5)
    grid = torch.linspace(-2, 2, 400, dtype=torch.float64)[:, None]
    with torch.no_grad():
        assert float(((net(grid)[:, 0] - torch.sin(2 * grid[:, 0])) ** 2).mean()) < 1e-3
        before = net(grid)[:, 0].clone()
        net.out.weight[0, 3] += 1.0
        delta = (net(grid)[:, 0] - before).abs()
    # the change is exactly one bump: largest at centre 3, < 1e-3 beyond 4 widths from it
    far = (grid[:, 0] - net.centres[3, 0]).abs() > 4 * net.width
    assert float(delta[far].max()) < 1e-3


def test_rbf_works_on_float32_and_multi_output():
    X = torch.rand(50, 2)
    Y = torch.stack([X[:, 0], X[:, 1] ** 2], 1)
    net = RBFNetwork(2, 8, out_features=2).fit(X, Y)
    assert net(X).shape == (50, 2) and net(X).dtype == torch.float32


def test_prbf_posteriors_and_constraints():
    from sklearn.datasets import make_moons

    X, y = make_moons(300, noise=0.2, random_state=0)
    model = PRBF(n_components=3).fit(X, y)
    P = model.predict_proba(X)
    np.testing.assert_allclose(P.sum(1), 1.0)
    assert P.min() >= 0
    for w in model.mixing_weights_:
        assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    assert (model.predict(X) == y).mean() > 0.95
    # Bayes' rule by hand from the class-conditional densities
    lik = np.exp(model.class_log_likelihood(X[:5])) * model.priors_
    np.testing.assert_allclose(P[:5], lik / lik.sum(1, keepdims=True), rtol=1e-8)


def test_bad_inputs():
    X = torch.rand(10, 2)
    with pytest.raises(ValueError, match="centres"):
        gaussian_design_matrix(X, torch.rand(3, 3), 1.0)
    with pytest.raises(ValueError, match="width"):
        gaussian_design_matrix(X, torch.rand(3, 2), 0.0)
    with pytest.raises(TypeError, match="width"):
        gaussian_design_matrix(X, torch.rand(3, 2), "wide")
    with pytest.raises(ValueError, match="X"):
        gaussian_design_matrix(torch.rand(10), torch.rand(3, 2), 1.0)
    with pytest.raises(ValueError, match="centres"):
        width_from_spacing(torch.rand(1, 2))
    with pytest.raises(ValueError, match="n_centres"):
        RBFNetwork(2, 0)
    with pytest.raises(ValueError, match="n_centres"):
        RBFNetwork(2, 20).fit(X, torch.rand(10))
    with pytest.raises(ValueError, match="y"):
        RBFNetwork(2, 3).fit(X, torch.rand(9))
    with pytest.raises(ValueError, match="X"):
        RBFNetwork(3, 3).fit(X, torch.rand(10))
    with pytest.raises(ValueError, match="y"):
        PRBF().fit(np.random.rand(10, 2), np.zeros(10, dtype=int))
    with pytest.raises(TypeError, match="n_components"):
        PRBF(n_components="2")


# ------------------------------------------------------------------ k-means, PNN, SOM
def test_kmeans_matches_scikit_learn_from_the_same_start():
    from sklearn.cluster import KMeans

    X = np.random.default_rng(0).normal(size=(300, 2)) + np.repeat(np.eye(2) * 4, 150, axis=0)
    init = X[[0, 1, 150, 151]]
    ours = kmeans(X, 4, init=init)
    sk = KMeans(4, init=init, n_init=1, tol=0, algorithm="lloyd").fit(X)
    assert np.allclose(np.sort(ours["centres"], 0), np.sort(sk.cluster_centers_, 0), atol=1e-8)
    assert ours["inertia"][-1] == pytest.approx(sk.inertia_, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), k=st.integers(1, 6))
def test_kmeans_inertia_never_increases(seed, k):
    X = np.random.default_rng(seed).normal(size=(40, 3))
    res = kmeans(X, k, seed=seed)
    assert np.all(np.diff(res["inertia"]) <= 1e-9)
    sq = ((X[:, None] - res["centres"][None]) ** 2).sum(-1)
    assert np.array_equal(res["labels"], sq.argmin(1))  # each point sits with its nearest centre


def test_rbf_fit_with_given_centres():
    X = torch.linspace(-1, 1, 50, dtype=torch.float64)[:, None]
    C = torch.linspace(-1, 1, 5, dtype=torch.float64)[:, None]
    net = RBFNetwork(1, 5).double().fit(X, torch.sin(3 * X[:, 0]), centres=C)
    assert torch.equal(net.centres, C)
    with pytest.raises(ValueError, match="centres"):
        RBFNetwork(1, 5).double().fit(X, X[:, 0], centres=C[:4])


def test_pnn_equals_per_class_kernel_density():
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(60, 2)), rng.integers(0, 3, 60)
    Q = rng.normal(size=(10, 2))
    pnn = PNN(width=0.4).fit(X, y)
    ref = np.stack([KernelDensity(bandwidth=0.4).fit(X[y == c]).score_samples(Q) for c in range(3)], 1)
    assert np.allclose(pnn.class_log_likelihood(Q), ref, atol=1e-10)
    P = pnn.predict_proba(Q)
    assert np.allclose(P.sum(1), 1) and np.all(P >= 0)
    # a tiny width makes it the 1-nearest-neighbour classifier
    nn1 = y[((Q[:, None] - X[None]) ** 2).sum(-1).argmin(1)]
    assert np.array_equal(PNN(width=0.01).fit(X, y).predict(Q), nn1)


def test_som_orders_and_quantises_the_square():
    X = np.random.default_rng(0).random((500, 2))
    som = SelfOrganizingMap((6, 6), seed=0).fit(X, steps=2000, snapshots=5)
    start = som.history_[0]
    assert len(som.history_) == 5 and np.array_equal(som.history_[-1], som.weights_)
    assert som.quantization_error(X) < 0.3 * som.quantization_error(X, start)
    assert som.topographic_error(X) < 0.05  # neighbours on the grid are neighbours in the square
    # without a neighbourhood the units are not ordered on the grid
    km = SelfOrganizingMap((6, 6), radius=(1e-3, 1e-3), seed=0).fit(X, steps=2000)
    assert km.topographic_error(X) > 0.3


def test_bad_inputs_new_models():
    X = np.random.default_rng(0).random((10, 2))
    with pytest.raises(ValueError, match="k"):
        kmeans(X, 11)
    with pytest.raises(ValueError, match="init"):
        kmeans(X, 2, init=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="width"):
        PNN(width=0.0)
    with pytest.raises(ValueError, match="y"):
        PNN().fit(X, np.zeros(10))
    with pytest.raises(ValueError, match="X"):
        PNN().fit(X, np.arange(10) % 2).predict_proba(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="grid"):
        SelfOrganizingMap((0, 3))
    with pytest.raises(ValueError, match="steps"):
        SelfOrganizingMap((2, 2)).fit(X, steps=0)
