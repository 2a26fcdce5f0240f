"""Tests for nnbook.autoencoder: the model, the sparsity penalty, corruption, training, and the PCA theorem."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from nnbook.autoencoder import Autoencoder, corrupt, kl_sparsity_penalty, reconstruction_error, train_autoencoder


def test_one_layer_matches_the_encode_decode_equations():
    torch.manual_seed(0)
    ae = Autoencoder((6, 3), activation="sigmoid", output_activation="identity")
    x = torch.rand(4, 6)
    W1, b1 = ae.encoder[0].weight, ae.encoder[0].bias
    W2, b2 = ae.decoder[0].weight, ae.decoder[0].bias
    h = torch.sigmoid(x @ W1.T + b1)
    torch.testing.assert_close(ae.encode(x), h)
    torch.testing.assert_close(ae(x), h @ W2.T + b2)


def test_tied_weights_share_the_encoder_matrix_and_shapes():
    ae = Autoencoder((64, 32, 8), activation="tanh", tied=True)
    assert ae.decoder_weights()[0].data_ptr() == ae.encoder[1].weight.data_ptr()
    n_untied = sum(p.numel() for p in Autoencoder((64, 32, 8)).parameters())
    n_tied = sum(p.numel() for p in ae.parameters())
    assert n_untied - n_tied == 64 * 32 + 32 * 8
    x = torch.rand(5, 64)
    assert ae.encode(x).shape == (5, 8) and ae(x).shape == (5, 64)
    assert ae.decode(torch.zeros(2, 8)).shape == (2, 64)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 12), rho=st.floats(0.01, 0.99), seed=st.integers(0, 10_000))
def test_kl_penalty_matches_torch_bernoulli_kl_and_autograd(h, rho, seed):
    g = torch.Generator().manual_seed(seed)
    rho_hat = (torch.rand(h, generator=g, dtype=torch.float64) * 0.98 + 0.01).requires_grad_(True)
    D = torch.distributions
    want = D.kl_divergence(D.Bernoulli(probs=torch.full_like(rho_hat, rho)), D.Bernoulli(probs=rho_hat)).sum()
    got = kl_sparsity_penalty(rho_hat, rho)
    torch.testing.assert_close(got, want)
    assert float(got.detach()) >= 0
    got.backward()  # d/dρ̂ KL = −ρ/ρ̂ + (1−ρ)/(1−ρ̂)
    torch.testing.assert_close(rho_hat.grad, (-rho / rho_hat + (1 - rho) / (1 - rho_hat)).detach())


def test_kl_penalty_is_zero_only_at_target():
    assert float(kl_sparsity_penalty(torch.full((5,), 0.1), 0.1)) == pytest.approx(0.0, abs=1e-7)
    assert float(kl_sparsity_penalty(torch.full((5,), 0.2), 0.1)) > 0
    assert np.isfinite(float(kl_sparsity_penalty(torch.tensor([0.0, 1.0]), 0.1)))  # clamped, finite


def test_corrupt_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 64, generator=g) * 0.5 + 0.25
    m = corrupt(x, "masking", 0.3, generator=g)
    assert float((m == 0).float().mean()) == pytest.approx(0.3, abs=0.01)
    assert torch.equal(m[m != 0], x[m != 0])
    s = corrupt(x, "salt_pepper", 0.2, generator=g)
    changed = s != x
    assert float(changed.float().mean()) == pytest.approx(0.2, abs=0.01)
    assert set(s[changed].unique().tolist()) <= {0.0, 1.0}
    n = corrupt(x, "gaussian", 0.1, generator=g) - x
    assert float(n.std()) == pytest.approx(0.1, abs=0.003) and abs(float(n.mean())) < 0.003
    assert torch.equal(corrupt(x, "masking", 0.0), x)
    a = corrupt(x, "masking", 0.5, generator=torch.Generator().manual_seed(3))
    b = corrupt(x, "masking", 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_linear_autoencoder_finds_the_pca_subspace_but_not_the_components():
    """Baldi & Hornik (1989): the optimum of a linear AE with k units spans the top-k principal subspace."""
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    X = (rng.normal(size=(500, 10)) * np.array([3.0, 2.0, 1.5] + [0.3] * 7)) @ Q.T + 1.0
    torch.manual_seed(0)
    ae = Autoencoder((10, 3), activation="identity", output_activation="identity").double()
    train_autoencoder(ae, torch.tensor(X), steps=1500, lr=1e-2, batch_size=500, seed=0, every=500)
    W = ae.decoder_weights()[0].detach().numpy()                   # (10, 3) decoder columns
    pca = PCA(3).fit(X)
    assert np.degrees(subspace_angles(W, pca.components_.T)).max() < 0.5
    pca_err = ((pca.inverse_transform(pca.transform(X)) - X) ** 2).sum(1).mean()
    assert reconstruction_error(ae, torch.tensor(X)) == pytest.approx(pca_err, rel=1e-3)
    Wn = W / np.linalg.norm(W, axis=0)
    assert np.abs(Wn.T @ Wn - np.eye(3)).max() > 0.05             # columns not orthonormal: not the components


def test_training_lowers_error_and_sparsity_reaches_target():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(200, 16, generator=g)
    torch.manual_seed(0)
    ae = Autoencoder((16, 32))
    before = reconstruction_error(ae, X)
    hist = train_autoencoder(ae, X, steps=600, lr=1e-2, sparsity_weight=1.0, sparsity_target=0.1, every=100)
    assert len(hist) == 6 and hist[-1] < hist[0] and reconstruction_error(ae, X) < before
    assert float(ae.encode(X).detach().mean()) == pytest.approx(0.1, abs=0.03)
    torch.manual_seed(0)
    a = Autoencoder((16, 4)); h1 = train_autoencoder(a, X, steps=50, noise="masking", noise_level=0.2, seed=1, every=10)
    torch.manual_seed(0)
    b = Autoencoder((16, 4)); h2 = train_autoencoder(b, X, steps=50, noise="masking", noise_level=0.2, seed=1, every=10)
    assert h1 == h2  # deterministic for a seed


def test_denoising_error_uses_the_clean_target():
    ae = Autoencoder((4, 4), activation="identity", output_activation="identity")
    with torch.no_grad():
        ae.encoder[0].weight.copy_(torch.eye(4)); ae.encoder[0].bias.zero_()
        ae.decoder[0].weight.copy_(torch.eye(4)); ae.decoder[0].bias.zero_()
    x = torch.ones(2, 4); xc = torch.zeros(2, 4)
    assert reconstruction_error(ae, x) == 0.0
    assert reconstruction_error(ae, xc, x) == pytest.approx(4.0)  # the identity copies the corruption


def test_bad_input():
    with pytest.raises(TypeError, match="sizes"):
        Autoencoder(64)
    with pytest.raises(ValueError, match="sizes"):
        Autoencoder((64,))
    with pytest.raises(ValueError, match=r"sizes\[1\]"):
        Autoencoder((64, 0))
    with pytest.raises(ValueError, match="activation"):
        Autoencoder((64, 8), activation="softplus")
    with pytest.raises(TypeError, match="tied"):
        Autoencoder((64, 8), tied="yes")
    ae = Autoencoder((64, 8))
    with pytest.raises(ValueError, match="x must have shape"):
        ae(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="h must have shape"):
        ae.decode(torch.zeros(3, 5))
    with pytest.raises(TypeError, match="x"):
        ae.encode("image")
    with pytest.raises(ValueError, match="x"):
        ae.encode(torch.full((2, 64), float("nan")))
    with pytest.raises(ValueError, match="rho"):
        kl_sparsity_penalty(torch.full((3,), 0.1), 1.0)
    with pytest.raises(ValueError, match="rho"):
        kl_sparsity_penalty(torch.full((3,), 0.1), 0.0)
    with pytest.raises(ValueError, match="rho_hat"):
        kl_sparsity_penalty(torch.tensor([0.5, 1.5]), 0.1)
    with pytest.raises(ValueError, match="rho_hat"):
        kl_sparsity_penalty(torch.zeros(2, 3), 0.1)
    with pytest.raises(TypeError, match="rho_hat"):
        kl_sparsity_penalty(torch.zeros(3, dtype=torch.complex64), 0.1)
    with pytest.raises(ValueError, match="level"):
        corrupt(torch.zeros(2, 3), "gaussian", -0.1)
    with pytest.raises(ValueError, match="level"):
        corrupt(torch.zeros(2, 3), "masking", 1.5)
    with pytest.raises(ValueError, match="kind"):
        corrupt(torch.zeros(2, 3), "blur", 0.1)
    with pytest.raises(TypeError, match="x"):
        corrupt(np.array(["a", "b"]), "masking", 0.1)
    X = torch.rand(10, 64)
    with pytest.raises(TypeError, match="model"):
        train_autoencoder(torch.nn.Linear(64, 64), X)
    with pytest.raises(ValueError, match="X must have shape"):
        train_autoencoder(ae, torch.rand(10, 63))
    with pytest.raises(ValueError, match="noise_level"):
        train_autoencoder(ae, X, noise="gaussian", noise_level=-1.0)
    with pytest.raises(ValueError, match="noise"):
        train_autoencoder(ae, X, noise="blur", noise_level=0.1)
    with pytest.raises(ValueError, match="sparsity_target"):
        train_autoencoder(ae, X, sparsity_weight=1.0, sparsity_target=1.0)
    with pytest.raises(ValueError, match="activation"):
        train_autoencoder(Autoencoder((64, 8), activation="relu"), X, sparsity_weight=1.0)
    with pytest.raises(ValueError, match="steps"):
        train_autoencoder(ae, X, steps=0)
    with pytest.raises(ValueError, match="X_target"):
        reconstruction_error(ae, X, torch.rand(5, 64))


@pytest.mark.parametrize("noise", [None, "masking", "gaussian"])
def test_train_autoencoder_leaves_the_global_random_state_alone_and_is_reproducible(noise):
    from nnbook.utils import seeded

    X = torch.rand(40, 8, generator=torch.Generator().manual_seed(7))

    def trained(seed):
        with seeded(0):
            model = Autoencoder((8, 3))
        history = train_autoencoder(model, X, steps=5, batch_size=16, noise=noise, noise_level=0.2, seed=seed, every=1)
        return model, history

    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, ha = trained(3)
    assert torch.equal(torch.get_rng_state(), before)      # the caller's next draws are unchanged
    b, hb = trained(3)
    assert ha == hb
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert trained(4)[1] != ha                             # another seed: other minibatches (and noise)
