"""Tests for nnbook.vae: the Gaussian KL, the reparameterisation, the ELBO and the VAE API."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbook.vae import (
    VAE,
    bernoulli_elbo,
    bernoulli_log_likelihood,
    gaussian_kl,
    importance_log_likelihood,
    importance_weighted_bound,
    independent_pixel_nll,
    mean_bernoulli_entropy,
    reparam_gradient,
    reparameterize,
    score_function_gradient,
    train_vae,
)

D = torch.distributions


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 5), d=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_gaussian_kl_matches_torch_distributions(b, d, seed):
    g = torch.Generator().manual_seed(seed)
    mu = 2 * torch.randn(b, d, generator=g, dtype=torch.float64)
    logvar = 2 * torch.randn(b, d, generator=g, dtype=torch.float64)
    q = D.Independent(D.Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = D.Independent(D.Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), D.kl_divergence(q, p), rtol=1e-10, atol=1e-10)
    assert torch.all(gaussian_kl(mu, logvar) >= 0)  # Gibbs' inequality


def test_gaussian_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    logvar = torch.tensor([[-1.0, 0.7]], dtype=torch.float64)
    z = reparameterize(mu.expand(200_000, 2), logvar.expand(200_000, 2), generator=g)
    q = D.Normal(mu, torch.exp(0.5 * logvar))
    mc = (q.log_prob(z) - D.Normal(0.0, 1.0).log_prob(z)).sum(1).mean()
    assert float(mc) == pytest.approx(float(gaussian_kl(mu, logvar)[0]), abs=0.01)


def test_reparameterize_moments_and_gradient():
    g = torch.Generator().manual_seed(1)
    mu = torch.full((50_000, 1), 1.5, requires_grad=True)
    logvar = torch.full((50_000, 1), math.log(0.25), requires_grad=True)
    z = reparameterize(mu, logvar, generator=g)
    z0 = z.detach()
    assert float(z0.mean()) == pytest.approx(1.5, abs=0.01)
    assert float(z0.std()) == pytest.approx(0.5, abs=0.01)
    z.sum().backward()  # dz/dmu = 1 for every sample
    assert torch.all(mu.grad == 1)
    assert logvar.grad is not None


def test_bernoulli_log_likelihood_matches_torch_distribution():
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(4, 10, generator=g) < 0.5).double()
    logits = 5 * torch.randn(4, 10, generator=g, dtype=torch.float64)
    want = D.Bernoulli(logits=logits).log_prob(x).sum(1)
    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), want)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000))
def test_elbo_below_log_likelihood_in_a_tiny_enumerable_model(seed):
    """ELBO ≤ log p(x), with the gap = KL(q ‖ p(z|x)) ≥ 0 — checked by numerical integration over a 1-D z."""
    torch.manual_seed(seed)
    model = VAE(input_dim=3, latent_dim=1, hidden=4).double()
    x = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
    z = torch.linspace(-8, 8, 4001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        log_joint = bernoulli_log_likelihood(x.expand(len(z), 3), model.decode(z)) + D.Normal(0.0, 1.0).log_prob(z[:, 0])
        log_px = torch.logsumexp(log_joint, 0) + math.log(float(z[1, 0] - z[0, 0]))
        elbo = torch.stack([model.elbo(x.expand(20_000, 3)).mean()])
    assert float(elbo) <= float(log_px) + 0.02


def test_importance_bound_tighter_than_elbo():
    torch.manual_seed(0)
    X = (torch.rand(200, 16) < 0.3).float()
    model = VAE(16, 2, 16)
    train_vae(model, X, steps=200, lr=1e-2, seed=0)
    torch.manual_seed(1)
    with torch.no_grad():
        elbo = model.elbo(X.repeat(50, 1)).mean()  # average over many z to remove sampling noise
    iw = importance_log_likelihood(model, X, k=64).mean()
    assert float(iw) > float(elbo)


def test_vae_api_shapes_and_sampling():
    model = VAE(input_dim=64, latent_dim=3, hidden=(32, 16))
    x = (torch.rand(5, 64) < 0.5).float()
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert model.decode(mu).shape == (5, 64)
    assert model.elbo(x).shape == (5,)
    s = model.sample(7)
    assert s.shape == (7, 64) and float(s.min()) >= 0 and float(s.max()) <= 1
    b = model.sample(7, binary=True)
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    rec, kl = model.elbo_terms(x)
    assert torch.all(kl >= 0) and torch.all(rec <= 0)


def test_training_beats_independent_pixels():
    g = torch.Generator().manual_seed(0)
    proto = (torch.rand(4, 16, generator=g) < 0.5).float()
    X = proto[torch.randint(4, (400,), generator=g)]
    X = torch.where(torch.rand(X.shape, generator=g) < 0.05, 1 - X, X)  # 4 noisy prototypes
    model = VAE(16, 2, 32)
    hist = train_vae(model, X[:300], steps=600, lr=1e-2, seed=0, every=100)
    assert len(hist) == 6 and hist[-1] < hist[0]
    torch.manual_seed(0)
    with torch.no_grad():
        nll = float(-model.elbo(X[300:]).mean())
    assert nll < independent_pixel_nll(X[:300], X[300:]) - 2.0


def test_deterministic_training_is_a_plain_autoencoder():
    """deterministic=True: loss = −log p(x | μ(x)) — no noise (repeatable) and no KL (logvar gets no gradient)."""
    g = torch.Generator().manual_seed(0)
    proto = (torch.rand(4, 16, generator=g) < 0.5).float()
    X = proto[torch.randint(4, (300,), generator=g)]
    torch.manual_seed(0)
    ae = VAE(16, 2, 32)
    logvar_w0 = ae.encoder[-1].weight[2:].detach().clone()         # the rows that output logvar
    hist = train_vae(ae, X, steps=400, lr=1e-2, seed=0, every=100, deterministic=True)
    torch.testing.assert_close(ae.encoder[-1].weight[2:], logvar_w0)  # logvar unused: untouched
    with torch.no_grad():
        rec = float(-bernoulli_log_likelihood(X, ae.decode(ae.encode(X)[0])).mean())
    assert hist[-1] < hist[0] and rec < 2.0                      # 4 prototypes: near-perfect reconstruction
    torch.manual_seed(0)
    ae2 = VAE(16, 2, 32)
    assert train_vae(ae2, X, steps=400, lr=1e-2, seed=0, every=100, deterministic=True) == hist
    with pytest.raises(ValueError, match="beta"):
        train_vae(ae2, X, steps=1, beta=2.0, deterministic=True)
    with pytest.raises(TypeError, match="deterministic"):
        train_vae(ae2, X, steps=1, deterministic="yes")


def test_independent_pixel_nll_by_hand():
    Xtr = np.array([[1, 0], [1, 1], [0, 0], [1, 0]], dtype=float)
    Xte = np.array([[1, 0]], dtype=float)
    p = np.array([4 / 6, 2 / 6])  # add-one smoothing
    assert independent_pixel_nll(Xtr, Xte) == pytest.approx(-(np.log(p[0]) + np.log(1 - p[1])))


def test_mean_bernoulli_entropy():
    assert mean_bernoulli_entropy(torch.tensor([0.5, 0.5])) == pytest.approx(math.log(2))
    assert mean_bernoulli_entropy(torch.tensor([0.0, 1.0])) == pytest.approx(0.0, abs=1e-9)


def test_gradient_estimators_unbiased_and_reparam_has_lower_variance():
    """E_{z~N(μ,σ²)}[z²] = μ² + σ²: ∇_μ = 2μ, ∇_{log σ} = 2σ²."""
    g = torch.Generator().manual_seed(0)
    mu, ls = 1.0, math.log(0.5)
    f = lambda z: z**2
    rep = torch.stack([reparam_gradient(f, mu, ls, 10, generator=g) for _ in range(2000)])
    sf = torch.stack([score_function_gradient(f, mu, ls, 10, generator=g) for _ in range(2000)])
    want = torch.tensor([2 * mu, 2 * 0.25], dtype=torch.float64)
    torch.testing.assert_close(rep.mean(0), want, atol=0.03, rtol=0)
    torch.testing.assert_close(sf.mean(0), want, atol=0.1, rtol=0)
    assert torch.all(rep.var(0) * 5 < sf.var(0))


def test_bad_input():
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(64, 0)
    with pytest.raises(ValueError, match="input_dim"):
        VAE(-1, 2)
    with pytest.raises(TypeError, match="hidden"):
        VAE(64, 2, hidden="big")
    with pytest.raises(ValueError, match="hidden"):
        VAE(64, 2, hidden=(0,))
    model = VAE(64, 2, 8)
    with pytest.raises(ValueError, match="x must have shape"):
        model.encode(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="x must have shape"):
        model.elbo(torch.zeros(3, 63))
    with pytest.raises(ValueError, match="z must have shape"):
        model.decode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="logvar"):
        gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="logvar"):
        reparameterize(torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="eps"):
        reparameterize(torch.zeros(3, 2), torch.zeros(3, 2), eps=torch.zeros(3, 1))
    with pytest.raises(ValueError, match="x"):
        bernoulli_elbo(torch.zeros(2, 4), torch.zeros(2, 5), torch.zeros(2, 1), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="beta"):
        model.elbo(torch.zeros(2, 64), beta=-1.0)
    with pytest.raises(TypeError, match="model"):
        train_vae(torch.nn.Linear(2, 2), torch.zeros(2, 64))
    with pytest.raises(ValueError, match="steps"):
        train_vae(model, torch.zeros(2, 64), steps=0)
    with pytest.raises(ValueError, match="X must have shape"):
        train_vae(model, torch.zeros(2, 10))
    with pytest.raises(ValueError, match="X_test"):
        independent_pixel_nll(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="n"):
        model.sample(0)


def test_importance_weighted_bound_against_log_mean_exp_and_importance_log_likelihood():
    log_w = torch.randn(7, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    want = torch.log(torch.exp(log_w).mean(0))
    torch.testing.assert_close(importance_weighted_bound(log_w), want)
    torch.testing.assert_close(importance_weighted_bound(log_w - 900.0), want - 900.0)   # no underflow
    torch.testing.assert_close(importance_weighted_bound(log_w[:1]), log_w[0])           # k = 1: the log-weight
    # the same bound that importance_log_likelihood computes from the model's own log-weights
    model = VAE(8, 2, 4).double()
    x = (torch.rand(5, 8, generator=torch.Generator().manual_seed(1)) < 0.5).double()
    g = torch.Generator().manual_seed(2)
    eps = torch.randn(6, 5, 2, generator=g).double()          # drawn as importance_log_likelihood draws it
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps
        log_q = D.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
        log_p = D.Normal(0.0, 1.0).log_prob(z).sum(-1) + D.Bernoulli(logits=model.decode(z.reshape(-1, 2)).reshape(6, 5, 8)).log_prob(x).sum(-1)
        got = importance_log_likelihood(model, x, k=6, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(importance_weighted_bound(log_p - log_q), got)


@pytest.mark.parametrize("bad", [torch.zeros(3), torch.zeros(0, 2), torch.zeros(2, 0)])
def test_importance_weighted_bound_bad_input_names_the_argument(bad):
    with pytest.raises(ValueError, match="log_w"):
        importance_weighted_bound(bad)


@pytest.mark.parametrize("deterministic", [False, True])
def test_train_vae_leaves_the_global_random_state_alone_and_is_reproducible(deterministic):
    from nnbook.utils import seeded

    X = (torch.rand(50, 8, generator=torch.Generator().manual_seed(6)) < 0.5).float()

    def trained(seed):
        with seeded(0):
            model = VAE(8, 2, 8)
        history = train_vae(model, X, steps=5, batch_size=16, seed=seed, every=1, deterministic=deterministic)
        return model, history

    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, ha = trained(3)
    assert torch.equal(torch.get_rng_state(), before)      # the caller's next draws are unchanged
    b, hb = trained(3)
    assert ha == hb
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    if not deterministic:                                  # a different seed: other minibatches and other ε
        c, hc = trained(4)
        assert hc != ha


def test_elbo_with_a_generator_is_reproducible_and_leaves_the_global_state_alone():
    model = VAE(8, 2, 8)
    x = (torch.rand(6, 8, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    before = torch.get_rng_state()
    a = model.elbo(x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(torch.get_rng_state(), before)
    torch.testing.assert_close(a, model.elbo(x, generator=torch.Generator().manual_seed(2)), rtol=0, atol=0)
