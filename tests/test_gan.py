"""Tests for nnbook.gan: the losses against hand formulas, the gradient penalty against a
hand-computed gradient, AdaIN's output statistics, the coverage metric and bad input."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from nnbook import gan as G


def test_losses_match_hand_formulas():
    r = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    f = torch.tensor([-0.5, 1.0], dtype=torch.float64)
    Dr, Df = torch.sigmoid(r), torch.sigmoid(f)
    want_d = -torch.log(Dr).mean() - torch.log(1 - Df).mean()
    torch.testing.assert_close(G.discriminator_loss(r, f), want_d)
    torch.testing.assert_close(G.generator_loss(f), -torch.log(Df).mean())
    torch.testing.assert_close(G.generator_loss(f, non_saturating=False), torch.log(1 - Df).mean())
    torch.testing.assert_close(G.critic_loss(r, f), f.mean() - r.mean())
    assert math.isfinite(float(G.generator_loss(torch.tensor([-200.0]))))   # stable where log σ underflows


def test_saturating_gradient_vanishes_non_saturating_does_not():
    a = torch.tensor([-8.0], requires_grad=True)          # D(G(z)) = σ(−8) ≈ 3e-4: D rejects the sample
    G.generator_loss(a, non_saturating=False).backward()
    g_sat = abs(float(a.grad)); a.grad = None
    G.generator_loss(a).backward()
    assert g_sat < 1e-3 and abs(float(a.grad)) > 0.99


def test_gradient_penalty_by_hand_for_a_linear_and_a_quadratic_critic():
    w = torch.tensor([[3.0], [4.0]], dtype=torch.float64)     # ‖∇(x·w)‖ = 5 everywhere → (5 − 1)² = 16
    real, fake = torch.randn(7, 2, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
    assert float(G.gradient_penalty(lambda x: x @ w, real, fake)) == pytest.approx(16.0)
    alpha = torch.rand(7, dtype=torch.float64)
    x_hat = alpha[:, None] * real + (1 - alpha[:, None]) * fake
    want = ((2 * x_hat).norm(dim=1) - 1).pow(2).mean()     # f = ‖x‖² has gradient 2x
    got = G.gradient_penalty(lambda x: (x ** 2).sum(1), real, fake, alpha=alpha)
    torch.testing.assert_close(got, want)


def test_gradient_penalty_reaches_critic_parameters():
    critic = torch.nn.Linear(2, 1)
    gp = G.gradient_penalty(critic, torch.randn(5, 2), torch.randn(5, 2))
    gp.backward()
    assert critic.weight.grad is not None and float(critic.weight.grad.abs().sum()) > 0


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_adain_output_has_the_style_statistics(b, c, h, seed):
    g = torch.Generator().manual_seed(seed)
    x = 5 * torch.randn(b, c, h, h + 1, generator=g, dtype=torch.float64) - 2
    s = torch.rand(b, c, generator=g, dtype=torch.float64) * 3 + 0.1
    bias = torch.randn(b, c, generator=g, dtype=torch.float64) * 4
    y = G.adain(x, s, bias, eps=1e-12)
    torch.testing.assert_close(y.mean((2, 3)), bias, atol=1e-8, rtol=0)
    torch.testing.assert_close(y.std((2, 3), unbiased=False), s, atol=1e-6, rtol=1e-6)


def test_adain_matches_instance_norm():
    x = torch.randn(2, 3, 4, 4)
    s, b = torch.rand(2, 3) + 0.5, torch.randn(2, 3)
    ref = torch.nn.functional.instance_norm(x, eps=1e-5) * s[:, :, None, None] + b[:, :, None, None]
    torch.testing.assert_close(G.adain(x, s, b), ref, atol=1e-5, rtol=1e-5)


def test_optimal_discriminator_and_js_divergence():
    assert np.allclose(G.optimal_discriminator([1.0, 0.0, 2.0, 0.0], [1.0, 3.0, 0.0, 0.0]), [0.5, 0.0, 1.0, 0.5])
    p, q = np.array([0.2, 0.5, 0.3]), np.array([0.6, 0.1, 0.3])
    assert G.js_divergence(p, q) == pytest.approx(jensenshannon(p, q) ** 2)   # scipy returns √JS (nats)
    assert G.js_divergence([1, 0], [0, 1]) == pytest.approx(math.log(2))       # disjoint supports
    assert G.js_divergence(p, p) == pytest.approx(0.0, abs=1e-12)


def test_mode_coverage_on_constructed_samples():
    C = G.ring_centres(8, 2.0)
    rng = np.random.default_rng(0)
    two_modes = np.concatenate([C[0] + 0.05 * rng.standard_normal((50, 2)), C[3] + 0.05 * rng.standard_normal((50, 2))])
    far = np.zeros((100, 2))                                    # the ring's centre: near no mode
    m = G.mode_coverage(np.concatenate([two_modes, far]), C, std=0.05)
    assert m["modes_covered"] == 2 and m["high_quality"] == pytest.approx(0.5, abs=0.02)
    assert m["counts"][0] + m["counts"][3] == pytest.approx(100, abs=2)
    all_modes = np.repeat(C, 10, axis=0)
    assert G.mode_coverage(all_modes, C, std=0.05)["modes_covered"] == 8
    assert G.mode_coverage(all_modes, C, std=0.05, min_fraction=0.2)["modes_covered"] == 0


def test_ring_gan_runs_are_deterministic():
    X = torch.tensor(G.ring_centres()).float().repeat(20, 1)
    a = G.train_2d_gan(X, "wgan-gp", steps=3, n_runs=2, seed=0, n_critic=1)
    b = G.train_2d_gan(X, "wgan-gp", steps=3, n_runs=2, seed=0, n_critic=1)
    sa, sb = a.sample(5, torch.Generator().manual_seed(0)), b.sample(5, torch.Generator().manual_seed(0))
    assert sa.shape == (2, 5, 2) and np.array_equal(sa, sb)
    w = G.train_2d_gan(X, "wgan", steps=2, clip=0.02)
    assert all(float(p.detach().abs().max()) <= 0.02 + 1e-7 for p in w.discriminator.parameters())


@pytest.mark.parametrize("loss", ["gan", "wgan-gp"])
def test_ring_gan_stacked_runs_are_independent(loss, monkeypatch):
    """Changing only run 0's initial weights leaves run 1's training bit-for-bit unchanged.

    Fails if the runs were coupled, e.g. by batch statistics over all runs or a shared
    optimiser statistic (a global gradient norm)."""
    X = torch.tensor(G.ring_centres()).float().repeat(20, 1)
    build = G.ensemble_mlp

    def train(shift):
        def perturbed(*args, **kwargs):                       # the stacked nets, run 0's weights shifted
            net = build(*args, **kwargs)
            with torch.no_grad():
                for layer in net:
                    if isinstance(layer, G.EnsembleLinear):
                        layer.weight[0] += shift
            return net
        monkeypatch.setattr(G, "ensemble_mlp", perturbed)
        return G.train_2d_gan(X, loss, steps=10, n_runs=2, seed=0, n_critic=2, batch_size=16)

    a, b = train(0.0), train(0.3)
    sa, sb = a.sample(50, torch.Generator().manual_seed(0)), b.sample(50, torch.Generator().manual_seed(0))
    assert not np.allclose(sa[0], sb[0])                         # run 0 did change …
    assert np.array_equal(sa[1], sb[1])                          # … run 1 did not
    for net_a, net_b in [(a.generator, b.generator), (a.discriminator, b.discriminator)]:
        for pa, pb in zip(net_a.parameters(), net_b.parameters()):
            assert torch.equal(pa[1], pb[1])


def test_ensemble_layer_equals_separate_linear_layers():
    layer = G.EnsembleLinear(3, 4, 2)
    x = torch.randn(3, 5, 4)
    for k in range(3):
        torch.testing.assert_close(layer(x)[k], x[k] @ layer.weight[k] + layer.bias[k])


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_digit_gan_api(arch):
    X = torch.rand(40, 64)
    gen = G.train_digit_gan(X, steps=3, seed=0, arch=arch)
    s = gen.sample(6, generator=torch.Generator().manual_seed(0))
    assert s.shape == (6, 64) and float(s.min()) >= 0 and float(s.max()) <= 1
    s2 = gen.sample(6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, s2)


def test_cycle_gan_api():
    A, B = torch.randn(30, 2), torch.randn(30, 2) + 3
    Gm, Fm = G.train_cycle_gan(A, B, steps=2)
    assert Gm(A).shape == (30, 2) and Fm(B).shape == (30, 2)


def test_style_generator_styles_enter_only_through_adain():
    torch.manual_seed(0)
    gen = G.StyleGenerator(z_dim=4, w_dim=5, channels=6).eval()
    z = torch.randn(3, 4)
    w = gen.mapping(z)
    ws = w[:, None].expand(-1, gen.n_layers, -1)
    torch.testing.assert_close(gen(z), gen.synthesis(ws))
    assert gen(z).shape == (3, 64)
    # the first layer by hand: AdaIN of the learned constant with the style A₀ w
    s, b = gen.affine[0](w).chunk(2, dim=1)
    c = gen.const.expand(3, -1, -1, -1)
    by_hand = s[:, :, None, None] * (c - c.mean((2, 3), keepdim=True)) / torch.sqrt(c.var((2, 3), unbiased=False, keepdim=True) + 1e-5) + b[:, :, None, None]
    torch.testing.assert_close(G.adain(c, s, b), by_hand)


def test_style_mixing_takes_coarse_and_fine_styles_from_the_right_source():
    torch.manual_seed(1)
    gen = G.StyleGenerator(z_dim=4, w_dim=4, channels=4).eval()
    za, zb = torch.randn(5, 4), torch.randn(5, 4)
    wa, wb = gen.mapping(za), gen.mapping(zb)
    for k in range(gen.n_layers + 1):
        ws = torch.stack([wa if i < k else wb for i in range(gen.n_layers)], 1)
        torch.testing.assert_close(gen.mix(za, zb, n_coarse=k), G._to_unit(gen.synthesis(ws)))
    torch.testing.assert_close(gen.mix(za, zb, n_coarse=gen.n_layers), G._to_unit(gen(za)))
    torch.testing.assert_close(gen.mix(za, zb, n_coarse=0), G._to_unit(gen(zb)))
    # changing only the fine source changes the image
    assert not torch.allclose(gen.mix(za, zb, 2), gen.mix(za, za, 2))


def test_style_gan_training_is_deterministic():
    X = torch.rand(40, 64)
    a = G.train_style_gan(X, steps=3, seed=0, channels=4).sample(6, torch.Generator().manual_seed(0))
    b = G.train_style_gan(X, steps=3, seed=0, channels=4).sample(6, torch.Generator().manual_seed(0))
    assert a.shape == (6, 64) and torch.equal(a, b) and float(a.min()) >= 0 and float(a.max()) <= 1


_g = lambda seed: torch.Generator().manual_seed(seed)
_pts = lambda n, seed: torch.randn(n, 2, generator=_g(seed))
_digits = torch.rand(20, 64, generator=_g(9))


@pytest.mark.parametrize("train", [
    lambda: G.train_discriminator(_pts(50, 1), _pts(40, 2) + 1, steps=3, hidden=4, batch_size=8)(torch.ones(1, 2)),
    lambda: G.train_2d_gan(_pts(30, 3), "wgan-gp", steps=2, n_critic=2, hidden=4, batch_size=8).sample(3, _g(0)),
    lambda: G.train_digit_gan(_digits, steps=2, width=4, batch_size=8).sample(3, _g(0)),
    lambda: G.train_cycle_gan(_pts(20, 4), _pts(20, 5), steps=2, hidden=4, batch_size=8)[0](torch.ones(1, 2)),
    lambda: G.train_style_gan(_digits, steps=2, channels=4, batch_size=8).sample(3, _g(0)),
], ids=["discriminator", "2d_gan", "digit_gan", "cycle_gan", "style_gan"])
def test_training_leaves_the_global_rng_alone_and_repeats_with_the_seed(train):
    outs = []
    for global_seed in (1, 2):                            # what the caller's stream holds must not matter
        torch.manual_seed(global_seed)
        state = torch.get_rng_state()
        outs.append(torch.as_tensor(train()).detach())
        assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("train", [
    lambda steps: G.train_discriminator(_pts(50, 1), _pts(40, 2) + 1, steps=steps, hidden=4, batch_size=8),
    lambda steps: G.train_2d_gan(_pts(30, 3), "gan", steps=steps, hidden=4, batch_size=8, snapshot_every=1, n_snapshot=4),
    lambda steps: G.train_2d_gan(_pts(30, 3), "wgan-gp", steps=steps, n_critic=2, hidden=4, batch_size=8),
    lambda steps: G.train_digit_gan(_digits, steps=steps, width=4, batch_size=8, every=1, callback=lambda s, g: None),
    lambda steps: G.train_digit_gan(_digits, steps=steps, arch="mlp", width=4, batch_size=8),
    lambda steps: G.train_cycle_gan(_pts(20, 4), _pts(20, 5), steps=steps, hidden=4, batch_size=8),
    lambda steps: G.train_style_gan(_digits, steps=steps, channels=4, batch_size=8),
], ids=["discriminator", "2d_gan", "2d_wgan_gp", "dcgan", "mlp_gan", "cycle_gan", "style_gan"])
def test_training_checks_its_arguments_once_not_every_step(train, argument_checks):
    counts = argument_checks(G)(train)
    assert counts[0] > 0 and counts[0] == counts[1], f"argument checks per run: {counts} for 1 and 4 steps"


@pytest.mark.parametrize("call, match", [
    (lambda: G.discriminator_loss(torch.zeros(3, 2), torch.zeros(3)), "real_logits"),
    (lambda: G.generator_loss(torch.zeros(3), non_saturating=1), "non_saturating"),
    (lambda: G.gradient_penalty(lambda x: x, torch.zeros(3, 2), torch.zeros(4, 2)), "real and fake"),
    (lambda: G.gradient_penalty(3, torch.zeros(3, 2), torch.zeros(3, 2)), "critic"),
    (lambda: G.adain(torch.zeros(2, 3, 4), torch.ones(2, 3), torch.zeros(2, 3)), "x"),
    (lambda: G.adain(torch.zeros(2, 3, 4, 4), torch.ones(2, 2), torch.zeros(2, 3)), "style_scale"),
    (lambda: G.mode_coverage(np.zeros((5, 2)), np.zeros((8, 3)), 0.05), "centres"),
    (lambda: G.mode_coverage(np.zeros((5, 2)), np.zeros((8, 2)), -1.0), "std"),
    (lambda: G.js_divergence([0.5, 0.5], [1.0]), "q"),
    (lambda: G.optimal_discriminator([-1.0], [1.0]), "p_data"),
    (lambda: G.train_2d_gan(np.zeros((10, 2)), "lsgan"), "loss"),
    (lambda: G.train_2d_gan(np.zeros((10, 2)), n_runs=0), "n_runs"),
    (lambda: G.train_digit_gan(torch.rand(10, 63)), "X_train"),
    (lambda: G.train_digit_gan(torch.rand(10, 64) * 2), "X_train"),
    (lambda: G.train_digit_gan(torch.rand(10, 64), arch="vae"), "arch"),
    (lambda: G.train_cycle_gan(np.zeros((5, 2)), np.zeros((5, 3))), "X_b"),
    (lambda: G.train_style_gan(torch.rand(10, 63)), "X_train"),
    (lambda: G.train_style_gan(torch.rand(10, 64), mix_prob=1.5), "mix_prob"),
    (lambda: G.StyleGenerator(channels=1), "channels"),
    (lambda: G.StyleGenerator(z_dim=4).mix(torch.zeros(2, 4), torch.zeros(3, 4)), "z_fine"),
    (lambda: G.StyleGenerator(z_dim=4).mix(torch.zeros(2, 4), torch.zeros(2, 4), n_coarse=4), "n_coarse"),
    (lambda: G.StyleGenerator(z_dim=4).synthesis(torch.zeros(2, 2, 32)), "ws"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
