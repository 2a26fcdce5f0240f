import pytest
import torch
from torch import nn

from nnbook import seed_everything
from nnbook.train import (EarlyStopping, GradientNorm, MaxEpochs, RelativeChange, fit, gradient_norm, minibatches,
                          train_steps)


def regression(n=64):
    seed_everything(0)
    X = torch.linspace(-1, 1, n).unsqueeze(1)
    return X, 2 * X + 0.5


def test_fit_reduces_loss_and_stops_at_max_epochs():
    X, y = regression()
    model = nn.Linear(1, 1)
    h = fit(model, (X, y), loss_fn=nn.MSELoss(), lr=0.1, stopping=[MaxEpochs(30)])
    assert h.epochs == 30 and h.stopped_by == "max epochs"
    assert h.train_loss[-1] < h.train_loss[0] / 10


def test_relative_change_fires_when_progress_stalls():
    X, y = regression()
    h = fit(nn.Linear(1, 1), (X, y), loss_fn=nn.MSELoss(), lr=0.1, stopping=[RelativeChange(1e-3)], max_epochs=5000)
    assert h.stopped_by == "relative change"
    assert abs(h.train_loss[-1] - h.train_loss[-2]) / h.train_loss[-2] < 1e-3


def test_gradient_norm_criterion_records_full_batch_norm():
    X, y = regression()
    model = nn.Linear(1, 1)
    h = fit(model, (X, y), loss_fn=nn.MSELoss(), lr=0.2, stopping=[GradientNorm(1e-3)], max_epochs=5000)
    assert h.stopped_by == "gradient norm" and h.grad_norm[-1] < 1e-3
    assert len(h.grad_norm) == h.epochs
    # independent check: recompute the gradient norm with autograd
    model.zero_grad()
    nn.MSELoss()(model(X), y).backward()
    assert gradient_norm(model) == pytest.approx(h.grad_norm[-1], rel=1e-4, abs=1e-7)


def test_early_stopping_restores_the_best_weights():
    seed_everything(1)
    X = torch.randn(20, 5)
    y = torch.randn(20, 1)
    Xv, yv = torch.randn(20, 5), torch.randn(20, 1)  # pure noise: validation soon gets worse
    model = nn.Sequential(nn.Linear(5, 64), nn.Tanh(), nn.Linear(64, 1))
    stop = EarlyStopping(patience=5)
    h = fit(model, (X, y), loss_fn=nn.MSELoss(), lr=0.1, val_data=(Xv, yv), stopping=[stop], max_epochs=2000)
    assert h.stopped_by == "early stopping"
    assert h.epochs == stop.best_epoch + 5
    with torch.no_grad():
        assert nn.MSELoss()(model(Xv), yv).item() == pytest.approx(min(h.val_loss), rel=1e-5)


def test_minibatches_and_callbacks():
    X, y = regression(50)
    seen = []
    h = fit(nn.Linear(1, 1), (X, y), loss_fn=nn.MSELoss(), lr=0.05, batch_size=8, max_epochs=3,
            callbacks=[lambda hist, m: seen.append(hist.epochs)], seed=0)
    assert seen == [1, 2, 3] and h.stopped_by == "max_epochs argument"


def test_fit_rejects_bad_input_with_named_errors():
    X, y = regression()
    m = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="model"):
        fit("net", (X, y), loss_fn=nn.MSELoss())
    with pytest.raises(TypeError, match="train_data"):
        fit(m, X, loss_fn=nn.MSELoss())
    with pytest.raises(ValueError, match="rows"):
        fit(m, (X, y[:-1]), loss_fn=nn.MSELoss())
    with pytest.raises(ValueError, match="val_data"):
        fit(m, (X, y), loss_fn=nn.MSELoss(), stopping=[EarlyStopping()])
    with pytest.raises(TypeError, match=r"stopping\[0\]"):
        fit(m, (X, y), loss_fn=nn.MSELoss(), stopping=[5])
    with pytest.raises(ValueError, match="train_data\\[0\\] must contain only finite"):
        fit(m, (X * float("nan"), y), loss_fn=nn.MSELoss())
    with pytest.raises(ValueError, match="eps"):
        RelativeChange(0)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(0)


def test_train_steps_records_block_means_and_calls_back_in_eval_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 1), nn.Dropout(0.5))
    X, y = regression(20)
    losses, modes = [], []

    def step_loss(step):
        loss = nn.MSELoss()(model(X), y)
        losses.append(float(loss.detach()))
        return loss

    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = train_steps(model, step_loss, opt, 7, every=3, scheduler=sched,
                          callback=lambda s, m: modes.append((s, m.training)))
    assert history == pytest.approx([sum(losses[0:3]) / 3, sum(losses[3:6]) / 3])   # the 7th step is in no full block
    assert modes == [(3, False), (6, False)] and not model.training
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5 ** 7)                # scheduler stepped every step


def test_train_steps_rejects_a_loss_that_is_not_a_scalar_tensor():
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="step_loss must return a scalar tensor"):
        train_steps(model, lambda s: 1.0, opt, 2)
    with pytest.raises(TypeError, match="optimizer"):
        train_steps(model, lambda s: model.weight.sum(), "adam", 2)


def test_train_steps_clips_and_reports_the_norm_before_clipping():
    X, y = regression(20)
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    ref = nn.Linear(1, 1)
    ref.load_state_dict(model.state_dict())
    nn.MSELoss()(ref(X), 10 * y).backward()                     # the reference gradient, by autograd
    g_norm = gradient_norm(ref)
    seen = []
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    train_steps(model, lambda s: nn.MSELoss()(model(X), 10 * y), opt, 1, clip_grad_norm=0.5,
                on_gradient=lambda s, loss, norm: seen.append((s, norm)))
    step = torch.cat([p.detach().flatten() for p in model.parameters()]) - before
    assert g_norm > 0.5 and seen[0][0] == 1 and seen[0][1] == pytest.approx(g_norm, rel=1e-6)
    assert float(step.norm()) == pytest.approx(0.1 * 0.5, rel=1e-5)   # the update used the clipped gradient


def test_train_steps_stops_without_the_update_when_on_gradient_says_so():
    X, y = regression(20)
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen, after = [], []
    stop_at_3 = lambda s, loss, norm: seen.append(s) or s == 3
    history = train_steps(model, lambda s: nn.MSELoss()(model(X), y), opt, 10, every=1, on_gradient=stop_at_3,
                          callback=lambda s, m: after.append([p.detach().clone() for p in m.parameters()]))
    assert seen == [1, 2, 3] and len(history) == 2 and not model.training
    for p, q in zip(model.parameters(), after[-1]):             # step 3 computed a gradient but changed nothing
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        train_steps(model, lambda s: model(X).sum(), opt, 1, clip_grad_norm=0.0)
    with pytest.raises(TypeError, match="on_gradient"):
        train_steps(model, lambda s: model(X).sum(), opt, 1, on_gradient=3)


def test_minibatches_cover_each_epoch_once_in_the_generators_order():
    batches = minibatches(10, 4, torch.Generator().manual_seed(1))
    got = [next(batches) for _ in range(6)]                     # two epochs of 4, 4, 2
    assert [len(b) for b in got] == [4, 4, 2, 4, 4, 2]
    g = torch.Generator().manual_seed(1)
    for epoch in range(2):
        assert torch.equal(torch.cat(got[3 * epoch : 3 * epoch + 3]), torch.randperm(10, generator=g))
    assert sorted(torch.cat(got[:3]).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="batch_size"):
        minibatches(10, 0)


def test_the_loops_check_their_arguments_once_not_every_step(argument_checks):
    import nnbook.train as T
    per_run = argument_checks(T)  # counts every declared rule applied, every direct check
    X, y = regression(20)
    model = nn.Linear(1, 1)
    runs = {
        "fit": lambda n: fit(model, (X, y), loss_fn=nn.MSELoss(), batch_size=8, val_data=(X, y), max_epochs=n,
                             stopping=[GradientNorm(1e-9), EarlyStopping(10)], callbacks=[lambda h, m: None], seed=0),
        "train_steps": lambda n: train_steps(model, lambda s: nn.MSELoss()(model(X), y), torch.optim.SGD(model.parameters(), lr=0.1),
                                             n, every=1, callback=lambda s, m: None, clip_grad_norm=1.0),
    }
    for name, run in runs.items():
        counts = per_run(run)
        assert counts[0] > 0 and counts[0] == counts[1], f"{name}: argument checks per run {counts} for 1 and 4 steps"
