"""Tests for nnbook.diffusion: schedules (against diffusers), the closed-form forward process,
DDPM / DDIM steps, training, sampling and input validation."""
import math

import diffusers  # the reference implementation: a pinned dev dependency, so a missing install fails, never skips
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbook.diffusion import (
    DDPM,
    NoisePredictor,
    NoiseSchedule,
    cosine_betas,
    ddim_step,
    ddim_timesteps,
    ddpm_step,
    forward_iterate,
    linear_betas,
    q_mean_var,
    q_sample,
    train_ddpm,
)
from nnbook.exercises import run_check


# ---------------------------------------------------------------- schedules vs diffusers
@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("T", [10, 200, 1000])
def test_alpha_bar_and_posterior_variance_match_diffusers(kind, T):
    s = NoiseSchedule.make(kind, T)
    ref = diffusers.DDPMScheduler(num_train_timesteps=T, trained_betas=s.betas[1:].numpy())
    torch.testing.assert_close(ref.alphas_cumprod.double(), s.alpha_bars[1:], atol=1e-6, rtol=1e-5)
    ref_var = torch.stack([ref._get_variance(t) for t in range(T)]).double()   # diffusers' step t = ours t + 1
    torch.testing.assert_close(ref_var, s.posterior_variance[1:], atol=1e-6, rtol=1e-4)


def test_schedules_equal_diffusers_own_linear_and_cosine():
    T = 1000
    lin = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)
    torch.testing.assert_close(lin.betas.double(), linear_betas(T), atol=1e-7, rtol=0)
    cos = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2")
    torch.testing.assert_close(cos.betas.double(), cosine_betas(T), atol=1e-6, rtol=0)


def test_linear_betas_scale_with_T():
    b = linear_betas(200)
    assert float(b[0]) == pytest.approx(5e-4) and float(b[-1]) == pytest.approx(0.1)
    for kind in ["linear", "cosine"]:
        assert float(NoiseSchedule.make(kind, 200).alpha_bars[-1]) < 1e-4   # ends at (nearly) pure noise


@settings(max_examples=25, deadline=None)
@given(betas=st.lists(st.floats(0.001, 0.999), min_size=1, max_size=30))
def test_schedule_identities(betas):
    s = NoiseSchedule(betas)
    b = torch.tensor(betas, dtype=torch.float64)
    torch.testing.assert_close(s.alpha_bars[1:], torch.cumprod(1 - b, 0))
    assert bool((s.alpha_bars[1:] < s.alpha_bars[:-1]).all())                 # strictly decreasing
    assert bool((s.posterior_variance[1:] <= s.betas[1:] + 1e-12).all())     # β̃_t ≤ β_t
    assert float(s.posterior_variance[1]) == 0.0


# ---------------------------------------------------------------- forward process
def test_closed_form_matches_iterated_forward_process():
    s = NoiseSchedule.make("linear", 50)
    x0 = torch.tensor([[1.5, -0.7]], dtype=torch.float64).expand(40000, 2)
    g = torch.Generator().manual_seed(0)
    for t in [1, 5, 20, 50]:
        xt = forward_iterate(x0, t, s, generator=g)
        mean, var = q_mean_var(x0[:1], t, s)
        torch.testing.assert_close(xt.mean(0), mean[0], atol=0.02, rtol=0)
        torch.testing.assert_close(xt.var(0), var[0].expand(2), atol=0.02, rtol=0.03)
        direct = q_sample(x0, t, s, generator=g)                               # one jump, same law
        torch.testing.assert_close(direct.var(0), xt.var(0), atol=0.02, rtol=0.03)


def test_q_sample_formula_and_t_zero_is_identity():
    s = NoiseSchedule.make("cosine", 20)
    x0 = torch.randn(4, 3, dtype=torch.float64)
    eps = torch.randn(4, 3, dtype=torch.float64)
    t = torch.tensor([0, 1, 10, 20])
    ab = s.alpha_bars[t][:, None]
    torch.testing.assert_close(q_sample(x0, t, s, noise=eps), ab.sqrt() * x0 + (1 - ab).sqrt() * eps)
    torch.testing.assert_close(q_sample(x0, 0, s, noise=eps), x0)


# ---------------------------------------------------------------- reverse steps
def test_ddpm_step_equals_algorithm_2_and_diffusers():
    T = 30
    s = NoiseSchedule.make("linear", T)
    ref = diffusers.DDPMScheduler(num_train_timesteps=T, trained_betas=s.betas[1:].numpy(), clip_sample=False)
    g = torch.Generator().manual_seed(0)
    for t in [1, 2, 15, 30]:
        x = torch.randn(5, 4, generator=g, dtype=torch.float64)
        eps = torch.randn(5, 4, generator=g, dtype=torch.float64)
        z = torch.randn(5, 4, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
        ours = ddpm_step(x, eps, t, s, noise=z)
        a, ab = s.alphas[t], s.alpha_bars[t]
        alg2 = (x - s.betas[t] / (1 - ab).sqrt() * eps) / a.sqrt() + s.posterior_variance[t].sqrt() * z
        torch.testing.assert_close(ours, alg2)
        theirs = ref.step(eps, t - 1, x, generator=torch.Generator().manual_seed(t)).prev_sample
        torch.testing.assert_close(ours, theirs.double(), atol=1e-5, rtol=1e-5)


def _ddpm_step_float64(x, eps, t, betas, z, clip=None):
    """Reference: one ancestral step in float64, ᾱ from numpy's cumulative product of 1 − β."""
    b = np.concatenate([[0.0], betas.numpy()])
    ab = np.cumprod(1 - b)
    x, eps, z = (torch.as_tensor(v, dtype=torch.float64) for v in (x, eps, z))
    x0 = (x - math.sqrt(1 - ab[t]) * eps) / math.sqrt(ab[t])
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
    mean = math.sqrt(ab[t - 1]) * b[t] / (1 - ab[t]) * x0 + math.sqrt(1 - b[t]) * (1 - ab[t - 1]) / (1 - ab[t]) * x
    return mean + math.sqrt(b[t] * (1 - ab[t - 1]) / (1 - ab[t])) * z


@pytest.mark.parametrize("kind, T", [("linear", 1000), ("cosine", 200)])
def test_float32_ddpm_step_is_as_accurate_as_float32_allows(kind, T):
    # Near t = 0, ᾱ_t is within 1e-3 of 1, and 1 − ᾱ_t formed from a float32 ᾱ_t keeps few digits (it once cost
    # an error of 7e-4 at t = 2 for the linear schedule, 2e-4 of the output's scale). Float32 inputs must give
    # the float64 result to float32 rounding (eps 6e-8), relative to the output's scale: near t = T the
    # predicted x̂_0 is large, so an elementwise relative tolerance would ask for more than float32 holds.
    betas = linear_betas(T) if kind == "linear" else cosine_betas(T)
    s = NoiseSchedule(betas)
    g = torch.Generator().manual_seed(0)
    for t in [1, 2, 3, 10, T // 2, T]:
        x, eps, z = (torch.randn(200, 16, generator=g) for _ in range(3))
        for clip in (None, 1.0):
            ours = ddpm_step(x, eps, t, s, noise=z, clip=clip)
            assert ours.dtype == torch.float32
            ref = _ddpm_step_float64(x, eps, t, betas, z, clip)
            err = float((ours.double() - ref).abs().max() / ref.abs().max())
            assert err < 1e-6, f"t = {t}, clip = {clip}: error {err:.1e} of the output's scale"


@pytest.mark.parametrize("kind, T", [("linear", 1000), ("cosine", 200)])
def test_float32_forward_process_is_as_accurate_as_float32_allows(kind, T):
    s = NoiseSchedule.make(kind, T)
    ab = np.cumprod(1 - s.betas.numpy())                    # float64 reference, entry 0 = 1
    t = torch.tensor([1, 2, 3, 5, 10, T // 2, T])
    z = torch.randn(len(t), 8, generator=torch.Generator().manual_seed(1))
    x0 = torch.randn(len(t), 8, generator=torch.Generator().manual_seed(2))
    mean, var = q_mean_var(x0, t, s)
    torch.testing.assert_close(var.double().squeeze(1), torch.as_tensor(1 - ab[t]), atol=0, rtol=1e-6)
    torch.testing.assert_close(mean.double(), torch.as_tensor(np.sqrt(ab[t]))[:, None] * x0.double(), atol=0, rtol=1e-6)
    noise_part = q_sample(torch.zeros_like(z), t, s, noise=z)                        # = √(1 − ᾱ_t) ε
    torch.testing.assert_close(noise_part.double(), torch.as_tensor(np.sqrt(1 - ab[t]))[:, None] * z.double(), atol=0, rtol=1e-6)


def test_loss_noises_with_q_sample():
    X = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    m = train_ddpm(X, steps=1, T=20, hidden=8, depth=1)
    x0 = m.normalize(X)
    loss = m.loss(x0, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)                                        # the same draws, in the same order
    t = torch.randint(1, m.T + 1, (len(x0),), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    assert torch.equal(loss, torch.nn.functional.mse_loss(m.net(q_sample(x0, t, m.schedule, noise=eps), t), eps))


def test_ddim_step_matches_diffusers():
    T, S = 100, 10
    ref = diffusers.DDIMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2", clip_sample=False)
    ref.set_timesteps(S)
    s = NoiseSchedule(cosine_betas(T))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(3, 5, generator=g, dtype=torch.float64)
    for i in ref.timesteps.tolist():
        prev = i - T // S
        ab_prev = s.alpha_bars[prev + 1] if prev >= 0 else 1.0
        theirs = ref.step(eps, i, x).prev_sample
        torch.testing.assert_close(ddim_step(x, eps, s.alpha_bars[i + 1], ab_prev), theirs.double(), atol=1e-6, rtol=1e-6)


def test_ddim_with_eta_one_over_one_step_is_the_ddpm_step():
    s = NoiseSchedule.make("cosine", 40)
    g = torch.Generator().manual_seed(2)
    for t in [2, 10, 40]:
        x, eps, z = (torch.randn(6, 3, generator=g, dtype=torch.float64) for _ in range(3))
        a = ddim_step(x, eps, s.alpha_bars[t], s.alpha_bars[t - 1], eta=1.0, noise=z)
        b = ddpm_step(x, eps, t, s, noise=z)
        torch.testing.assert_close(a, b)


def test_ddim_with_true_noise_recovers_x0_in_one_step():
    s = NoiseSchedule.make("linear", 50)
    x0, eps = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    xt = q_sample(x0, 37, s, noise=eps)
    torch.testing.assert_close(ddim_step(xt, eps, s.alpha_bars[37], 1.0), x0)


def test_clipping_recomputes_the_noise():
    x, eps = torch.full((1, 1), 3.0), torch.full((1, 1), -2.0)   # x̂0 far outside [-1, 1]
    out = ddim_step(x, eps, 0.01, 0.5, clip=1.0)
    eps_new = (3.0 - 0.1 * 1.0) / math.sqrt(0.99)
    assert float(out) == pytest.approx(math.sqrt(0.5) * 1.0 + math.sqrt(0.5) * eps_new, rel=1e-5)
    stale = ddim_step(x, eps, 0.01, 0.5, clip=1.0, recompute_eps=False)
    assert float(stale) == pytest.approx(math.sqrt(0.5) * 1.0 + math.sqrt(0.5) * -2.0, rel=1e-5)


def test_ddim_timesteps():
    assert ddim_timesteps(200, 4) == [200, 150, 100, 50, 0]
    ts = ddim_timesteps(200, 200)
    assert ts == list(range(200, -1, -1))
    assert ddim_timesteps(10, 3)[0] == 10 and ddim_timesteps(10, 3)[-1] == 0


# ---------------------------------------------------------------- model, training, sampling
def test_noise_predictor_shapes_and_time_input():
    net = NoisePredictor(dim=5, T=10, hidden=16, depth=1, num_classes=3)
    x, t = torch.randn(4, 5), torch.tensor([1, 2, 3, 10])
    assert net(x, t).shape == (4, 5) and net(x, t, torch.tensor([0, 1, 2, 0])).shape == (4, 5)
    assert not torch.allclose(net(x, t), net(x, t + 0 * t + 5))                # the output depends on t
    blind = NoisePredictor(dim=5, T=10, hidden=16, depth=1, time_input=False)
    torch.testing.assert_close(blind(x, t), blind(x, torch.full((4,), 7)))


def test_train_ddpm_learns_a_1d_two_point_distribution_and_is_deterministic():
    X = torch.cat([torch.full((200, 1), -1.0), torch.full((200, 1), 1.0)])
    kw = dict(steps=400, T=50, hidden=32, depth=1, batch_size=64, seed=3)
    m = train_ddpm(X, **kw)
    assert m.history[-1] < 0.7 * m.history[0]
    S = m.sample(400, sampling_steps=10, generator=torch.Generator().manual_seed(0)).squeeze(1)
    assert S.min() >= -1 and S.max() <= 1                                      # clipped to the data range
    near = (S.abs() > 0.7).float().mean()
    assert float(near) > 0.8 and 0.25 < float((S > 0).float().mean()) < 0.75  # both modes, mostly sharp
    anc = m.sample(50, generator=torch.Generator().manual_seed(0))
    assert anc.shape == (50, 1)
    m2 = train_ddpm(X, **kw)
    torch.testing.assert_close(m2.sample(20, sampling_steps=5, generator=torch.Generator().manual_seed(1)),
                               m.sample(20, sampling_steps=5, generator=torch.Generator().manual_seed(1)))


def test_train_ddpm_leaves_the_global_random_state_alone():
    X = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    kw = dict(steps=20, T=10, hidden=8, depth=1, batch_size=16, seed=4)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    m1 = train_ddpm(X, **kw)
    S1 = m1.sample(8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), before)                        # neither training nor sampling drew from it
    torch.manual_seed(456)                                                   # another global state: the same model
    m2 = train_ddpm(X, **kw)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)
    assert m1.history == m2.history
    assert torch.equal(S1, m2.sample(8, generator=torch.Generator().manual_seed(0)))


def test_conditional_model_with_guidance_follows_labels():
    X = torch.cat([torch.full((150, 2), -1.0), torch.full((150, 2), 1.0)]) + 0.05 * torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    y = torch.cat([torch.zeros(150), torch.ones(150)]).long()
    m = train_ddpm(X, y, steps=400, T=50, hidden=32, depth=1, batch_size=64, seed=0)
    labels = torch.tensor([0, 1] * 50)
    S = m.sample(100, labels=labels, guidance=1.0, sampling_steps=10, generator=torch.Generator().manual_seed(0))
    assert float(((S.mean(1) > 0).long() == labels).float().mean()) > 0.9
    steps, frames = m.trajectory(8, labels=labels[:8], sampling_steps=10, keep=4)
    assert steps[0] == 50 and steps[-1] == 0 and frames.shape == (len(steps), 8, 2)


# ---------------------------------------------------------------- bad input
def test_bad_betas():
    for bad in ([0.0, 0.1], [0.5, 1.0], [-0.1], [1.5]):
        with pytest.raises(ValueError, match="betas"):
            NoiseSchedule(bad)
    with pytest.raises(ValueError, match="betas"):
        NoiseSchedule([[0.1, 0.2]])
    with pytest.raises(ValueError, match="kind"):
        NoiseSchedule.make("quadratic", 10)
    with pytest.raises(ValueError, match="beta_end"):
        linear_betas(10, beta_end=1.2)
    with pytest.raises(TypeError, match="T"):
        cosine_betas(10.5)


def test_bad_t_and_shapes():
    s = NoiseSchedule.make("linear", 10)
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 10\]"):
        q_sample(x, 11, s)
    with pytest.raises(ValueError, match="t must"):
        q_sample(x, torch.tensor([1, 2]), s)
    with pytest.raises(TypeError, match="t must hold integer"):
        q_sample(x, torch.tensor([0.5, 1.0, 2.0]), s)
    with pytest.raises(ValueError, match=r"t must lie in \[1, 10\]"):
        ddpm_step(x, x, 0, s)
    with pytest.raises(ValueError, match="noise"):
        q_sample(x, 3, s, noise=torch.randn(3, 3))
    with pytest.raises(ValueError, match="x0"):
        q_sample(torch.randn(3), 3, s)
    with pytest.raises(ValueError, match="eps"):
        ddim_step(x, torch.randn(2, 2), 0.5, 0.9)
    with pytest.raises(ValueError, match="alpha_bar_prev"):
        ddim_step(x, x, 0.9, 0.5)
    with pytest.raises(TypeError, match="schedule"):
        q_sample(x, 1, schedule=[0.1])


def test_bad_training_and_sampling_input():
    X = torch.randn(20, 3)
    with pytest.raises(ValueError, match="y_train"):
        train_ddpm(X, torch.zeros(5).long(), steps=1)
    with pytest.raises(ValueError, match="schedule|kind"):
        train_ddpm(X, steps=1, schedule="quadratic")
    with pytest.raises(ValueError, match="steps"):
        train_ddpm(X, steps=0)
    m = train_ddpm(X, steps=2, T=10, hidden=8, depth=1)
    with pytest.raises(ValueError, match="labels"):
        m.sample(4, labels=torch.zeros(4).long())                              # trained without labels
    with pytest.raises(ValueError, match="sampling_steps"):
        m.sample(4, sampling_steps=11)
    with pytest.raises(ValueError, match="x must have shape"):
        m.normalize(torch.randn(4, 5))
    mc = train_ddpm(X, torch.tensor([0, 1] * 10), steps=2, T=10, hidden=8, depth=1)
    with pytest.raises(ValueError, match="labels must lie"):
        mc.sample(2, labels=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="guidance"):
        mc.sample(2, guidance=1.0)                                              # guidance without labels
    with pytest.raises(ValueError, match="guidance"):
        mc.sample(2, labels=torch.tensor([0, 1]), guidance=-1.0)
    with pytest.raises(TypeError, match="net"):
        DDPM(torch.nn.Linear(2, 2), NoiseSchedule.make("linear", 10))


# ---------------------------------------------------------------- exercise checkers
@pytest.mark.parametrize("name", ["diffusion.alpha_bar", "diffusion.q_sample", "diffusion.ddim_step"])
def test_checkers_accept_reference_and_reject_wrong(name):
    from nnbook.exercises import get

    ex = get(name)
    assert run_check(name, ex.reference).passed
    for wrong in ex.wrong:
        assert not run_check(name, wrong).passed


# ---------------------------------------------------------------- inpainting
def test_inpaint_fills_the_hidden_coordinate_from_the_known_one():
    # two clusters, (−1, −1) and (1, 1): knowing x₁ decides x₂; an unconditional sample would not
    X = torch.cat([torch.full((150, 2), -1.0), torch.full((150, 2), 1.0)]) + 0.05 * torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    m = train_ddpm(X, steps=400, T=50, hidden=32, depth=1, batch_size=64, seed=0)
    known = torch.cat([torch.full((40, 2), -1.0), torch.full((40, 2), 1.0)])
    known[:, 1] = 0.0                                                          # x₂ unknown
    mask = torch.tensor([True, False]).expand(80, 2)
    for u in (1, 3):
        out = m.inpaint(known, mask, resample=u, generator=torch.Generator().manual_seed(1))
        assert torch.equal(out[:, 0], known[:, 0])                             # known pixels kept exactly
        assert float((torch.sign(out[:, 1]) == torch.sign(known[:, 0])).float().mean()) > 0.9
    again = m.inpaint(known, mask, resample=3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(again, out)                                     # seeded: reproducible
    full = m.inpaint(known, torch.ones(80, 2, dtype=torch.bool))
    assert torch.equal(full, known)


def test_inpaint_rejects_bad_masks():
    X = torch.randn(20, 3)
    m = train_ddpm(X, steps=1, T=10, hidden=8, depth=1)
    with pytest.raises(ValueError, match="mask"):
        m.inpaint(X, torch.ones(20, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        m.inpaint(X, torch.full((20, 3), 0.5))
    with pytest.raises(ValueError, match="resample"):
        m.inpaint(X, torch.ones(20, 3, dtype=torch.bool), resample=0)
