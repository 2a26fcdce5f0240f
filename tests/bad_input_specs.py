"""Bad-input specs for `tests/test_bad_input.py`: one entry per public `nnbook` callable.

An entry ``S("module.name", valid, **args)`` gives
- ``valid``: a function returning the keyword arguments of a call that works (small, fast);
- ``args`` — only for a callable that does not declare its rules with ``@checked`` (the sweep
  reads declared rules from the callable itself): the arguments to spoil, each with its kind:
  ``Int(lo, hi)`` / ``Float(lo, hi, lo_open, hi_open)`` hyper-parameters with their valid range,
  ``Arr(ndim)`` tensors or arrays with the ranks they may have (``nan=False``: NaN/inf are
  meaningful there; ``empty=False``: an empty one is valid), ``Choice()`` a string option,
  ``Func()`` a callable.
An entry for a method, e.g. ``"mixture.GaussianMixtureEM.fit"``, passes ``make``, which
returns the bound method to call.

A new public function or class needs an entry here (the test fails until it has one),
or a line in ``EXCLUDED`` with the reason.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np
import torch

from nnbook.validate import Float, Function, Int, OneOf, Tensor

# ---- what is not checked, and why -------------------------------------------------------------
EXCLUDED = {
    # whole modules
    "validate": "the checkers themselves; tested in test_validate.py",
    "plot": "plotting helpers: they hand their input to matplotlib and draw; nothing is computed",
    "exercises": "exercise machinery: checks student functions, tested in test_exercises.py",
    "teaching": "teacher tooling over files and folders (student editions, grading; a package), tested in "
                "test_teaching.py, test_teaching_sandbox.py and test_teaching_wheel.py",
    "quiz": "self-check quizzes: checks its question files itself (check_questions), tested in test_quiz.py",
    "gan.GANRun": "result record", "gan.Generator": "base class wrapping a network the caller builds",
    # result records: built by nnbook's own functions, not by users
    "chnn.TSPResult": "result record", "hopfield.RunResult": "result record", "rbm.RBMHistory": "result record",
    "train.History": "result record", "rnn.TrainResult": "result record", "data.Split": "result record",
    "train.StoppingCriterion": "abstract base class (no arguments)",
}


def Arr(ndim=None, nan=True, empty=True):
    """A tensor or array argument of rank ``ndim``; ``nan=False``: NaN/inf are meaningful there;
    ``empty=False``: an empty one is valid."""
    return Tensor(ndim=ndim, finite=nan, allow_empty=not empty)


def Choice():
    return OneOf()


def Func():
    return Function()


POS = Float(0.0, lo_open=True)  # a positive real (learning rate, width, temperature)
NONNEG = Float(0.0)
PROB = Float(0.0, 1.0)
COUNT = Int(1)
SEED = Int(0)


@dataclass
class Spec:
    path: str
    valid: object
    make: object = None
    args: dict = field(default_factory=dict)

    def target(self):
        if self.make is not None:
            return self.make()
        module, name = self.path.split(".", 1)
        return getattr(importlib.import_module(f"nnbook.{module}"), name)

    def declared(self) -> dict | None:
        """The rules the callable declares with ``@checked`` (a class: its ``__init__``'s), or None."""
        target = self.target()
        rules = getattr(target.__init__ if isinstance(target, type) else target, "rules", None)
        return None if rules is None else dict(rules)

    def rules(self) -> dict:
        """The arguments to spoil: the declared rules, or (not yet declared) the ones listed here."""
        declared = self.declared()
        return self.args if declared is None else declared


SPECS: dict[str, Spec] = {}


def S(path, valid=dict, make=None, **args):
    SPECS[path] = Spec(path, valid, make, args)


def g(*shape, seed=0):
    """A reproducible float tensor of ``shape``."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def pm1(n, d, seed=0):
    """``n`` random ±1 patterns of length ``d``."""
    return torch.where(g(n, d, seed=seed) > 0, 1.0, -1.0)


def bits(n, d, seed=0):
    return (g(n, d, seed=seed) > 0).float()


def sym(n, seed=0):
    a = g(n, n, seed=seed)
    w = (a + a.T) / 2
    w.fill_diagonal_(0)
    return w


# ---- utils, data ------------------------------------------------------------------------------
S("utils.seed_everything", lambda: dict(seed=0))
S("utils.get_device", lambda: dict(prefer="cpu"))
S("utils.seeded", lambda: dict(seed=0))
S("utils.glue", lambda: dict(name="x", value=1, display=False))
S("data.load", lambda: dict(name="moons"))
S("data.available")
S("data.load_digits", lambda: dict(test_size=0.25, seed=0))
S("data.load_mnist5k", lambda: dict(test_size=0.2, seed=0))
S("data.karate_club")
S("data.make_moons", lambda: dict(n=20))
S("data.make_rings", lambda: dict(n=20))
S("data.make_eight_gaussians", lambda: dict(n=16))
S("data.make_swiss_roll", lambda: dict(n=16))
S("data.adding_problem", lambda: dict(n=4, length=5))
S("data.copy_task", lambda: dict(n=4, length=3, n_symbols=4, delay=2))

# ---- principles -------------------------------------------------------------------------------
X3 = lambda: np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]])  # noqa: E731
LEARN = lambda: dict(X_train=X3()[:4], y_train=np.array([0, 1, 1, 0]), X_query=X3()[4:])  # noqa: E731
S("principles.make_occam_task", lambda: dict(n=10))
S("principles.PolynomialRegressor", lambda: dict(degree=2))
S("principles.PolynomialRegressor.fit", lambda: dict(x=np.linspace(-1, 1, 10), y=np.linspace(-1, 1, 10) ** 2),
  make=lambda: __import__("nnbook.principles").principles.PolynomialRegressor(2).fit)
S("principles.capacity_sweep", lambda: dict(x=np.linspace(-1, 1, 10), y=np.linspace(-1, 1, 10) ** 2, degrees=[0, 1, 2], n_folds=2))
S("principles.one_standard_error_rule", lambda: dict(complexity=np.arange(3.0), mean_error=np.array([3.0, 1.0, 1.1]), se_error=np.array([0.1, 0.1, 0.1])))
S("principles.boolean_inputs", lambda: dict(d=2))
S("principles.all_targets", lambda: dict(n_points=3))
S("principles.majority_learner", LEARN)
S("principles.nearest_neighbour_learner", LEARN)
S("principles.stump_learner", LEARN)
S("principles.perceptron_learner", LEARN)
S("principles.anti_learner", lambda: dict(learner=__import__("nnbook.principles").principles.majority_learner))
S("principles.ots_accuracies", lambda: dict(learner=__import__("nnbook.principles").principles.majority_learner, X=X3()[:, :2][:4], train_idx=np.array([0, 1]),
                                            targets=__import__("nnbook.principles").principles.all_targets(4)))
S("principles.average_ots_accuracy", lambda: dict(learner=__import__("nnbook.principles").principles.majority_learner, X=X3()[:, :2][:4], train_idx=np.array([0, 1]),
                                                  targets=__import__("nnbook.principles").principles.all_targets(4)))
S("principles.literal_targets", lambda: dict(d=2))
S("principles.all_predicates", lambda: dict(X=X3()[:, :2][:4]))
S("principles.shared_predicate_counts", lambda: dict(P=np.array([[0, 1, 1, 0], [1, 1, 0, 0]])))
S("principles.StaticNet", lambda: dict(n_in=1, n_hidden=3, n_out=1))
S("principles.RecurrentNet", lambda: dict(n_in=1, n_hidden=3, n_out=1))

# ---- mlp --------------------------------------------------------------------------------------
S("mlp.sigmoid", lambda: dict(z=g(3, 2)))
S("mlp.sigmoid_prime", lambda: dict(z=g(3, 2)))
S("mlp.activation", lambda: dict(name="tanh"))
S("mlp.layer_backward", lambda: dict(delta=g(4, 3), W=g(3, 2), a_prev=g(4, 2), z_prev=g(4, 2, seed=1)))
S("mlp.ManualMLP", lambda: dict(sizes=[2, 3, 1]))
S("mlp.DeepMLP", lambda: dict(n_in=2, n_out=1, depth=2, width=4))
def _deep_with_grads():
    model = __import__("nnbook.mlp").mlp.DeepMLP(2, 1, depth=2, width=4)
    model(g(3, 2)).sum().backward()
    return model


S("mlp.layer_grad_norms", lambda: dict(model=_deep_with_grads()))
S("mlp.xor_data")
S("mlp.BatchedXORNet", lambda: dict(n_nets=3))

# ---- rbf, mixture ------------------------------------------------------------------------------
S("rbf.gaussian_design_matrix", lambda: dict(X=g(5, 2), centres=g(3, 2, seed=1), width=1.0))
S("rbf.width_from_spacing", lambda: dict(centres=g(3, 2)))
S("rbf.RBFNetwork", lambda: dict(in_features=2, n_centres=3))
S("rbf.RBFNetwork.fit", lambda: dict(X=g(12, 2), y=g(12), centres=g(3, 2, seed=1)), make=lambda: __import__("nnbook.rbf").rbf.RBFNetwork(2, 3).fit)
S("rbf.PRBF", lambda: dict(n_components=2))
S("rbf.PRBF.fit", lambda: dict(X=g(12, 2).numpy(), y=np.arange(12) % 2), make=lambda: __import__("nnbook.rbf").rbf.PRBF(1, max_iter=5).fit)
GMM = lambda: dict(X=g(12, 2).numpy(), weights=np.array([0.5, 0.5]), means=g(2, 2, seed=1).numpy(), covs=np.stack([np.eye(2)] * 2))  # noqa: E731
S("mixture.log_gaussian", lambda: {k: v for k, v in GMM().items() if k != "weights"})
S("mixture.e_step", GMM)
S("mixture.m_step", lambda: dict(X=g(12, 2).numpy(), resp=np.full((12, 2), 0.5)))
S("mixture.init_params", lambda: dict(X=g(12, 2).numpy(), n_components=2))
S("mixture.GaussianMixtureEM", lambda: dict(n_components=2))
S("mixture.GaussianMixtureEM.fit", lambda: dict(X=g(12, 2).numpy()), make=lambda: __import__("nnbook.mixture").mixture.GaussianMixtureEM(2, max_iter=3).fit)
S("mixture.em_missing", lambda: dict(X=g(12, 2).numpy(), n_components=2, max_iter=3))
S("mixture.VariationalGMM", lambda: dict(n_components=2))
S("mixture.VariationalGMM.fit", lambda: dict(X=g(12, 2).numpy(), resp_init=np.eye(2)[np.arange(12) % 2]), make=lambda: __import__("nnbook.mixture").mixture.VariationalGMM(2, max_iter=3).fit)
S("mixture.GaussianClassConditional", lambda: dict())
S("mixture.GaussianClassConditional.fit", lambda: dict(X=g(12, 2).numpy(), y=np.arange(12) % 2), make=lambda: __import__("nnbook.mixture").mixture.GaussianClassConditional().fit)
S("mixture.sample_gaussian", lambda: dict(mean=np.zeros(2), cov=np.eye(2), n=3, rng=np.random.default_rng(0)))
S("mixture.subsample_per_class", lambda: dict(y=np.arange(12) % 2, per_class=2, rng=np.random.default_rng(0)))
S("mixture.learning_curves", lambda: dict(X_train=g(12, 2).numpy(), y_train=np.arange(12) % 2, X_test=g(6, 2, seed=1).numpy(), y_test=np.arange(6) % 2,
                                             per_class=[2, 3], models={"g": lambda: __import__("nnbook.mixture").mixture.GaussianClassConditional()}, repeats=1))

# ---- chnn -------------------------------------------------------------------------------------
D4 = lambda: __import__("nnbook.chnn").chnn.distance_matrix(torch.tensor([[0.0, 0], [1, 0], [1, 1], [0, 1]]))  # noqa: E731
P = lambda: __import__("nnbook.chnn").chnn.HopfieldTankParams()  # noqa: E731
TOUR = lambda: __import__("nnbook.chnn").chnn.tour_to_matrix([0, 1, 2, 3])  # noqa: E731
S("chnn.rk4", lambda: dict(f=lambda x: -x, x0=torch.ones(2), t_max=0.1, dt=0.05))
S("chnn.lyapunov_derivative", lambda: dict(V=lambda x: (x ** 2).sum(-1), f=lambda x: -x, x=g(3, 2)))
S("chnn.CHNN", lambda: dict(W=sym(3), I=torch.zeros(3)))
S("chnn.CHNN.simulate", lambda: dict(u0=g(3), steps=2, dt=0.01), make=lambda: __import__("nnbook.chnn").chnn.CHNN(sym(3), torch.zeros(3)).simulate)
S("chnn.logistic_integral", lambda: dict(v=torch.tensor([0.2, 0.5]), u0=1.0))
S("chnn.chnn_energy", lambda: dict(v=torch.tensor([0.2, 0.5, 0.7]), W=sym(3), I=torch.zeros(3)))
S("chnn.distance_matrix", lambda: dict(cities=g(4, 2)))
S("chnn.tour_length", lambda: dict(order=[0, 1, 2, 3], D=D4()))
S("chnn.permutation_tour_length", lambda: dict(V=TOUR(), D=D4()))
S("chnn.is_valid_tour", lambda: dict(V=TOUR()))
S("chnn.decode_tour", lambda: dict(V=TOUR()))
S("chnn.tour_to_matrix", lambda: dict(order=[0, 1, 2, 3]))
S("chnn.brute_force_tsp", lambda: dict(D=D4()))
S("chnn.held_karp", lambda: dict(D=D4()))
S("chnn.HopfieldTankParams", lambda: dict(), A=NONNEG, B=NONNEG, C=NONNEG, D=NONNEG, n_tilde=NONNEG, u0=POS, tau=POS)
S("chnn.hopfield_tank_weights", lambda: dict(D=D4(), p=P()))
S("chnn.hopfield_tank_energy", lambda: dict(V=TOUR(), D=D4(), p=P()))
S("chnn.solve_tsp_chnn", lambda: dict(D=D4(), p=P(), restarts=2, steps=3, record_every=1))

# ---- hopfield ---------------------------------------------------------------------------------
HOP = lambda: dict(W=sym(6), x=pm1(1, 6)[0], theta=torch.zeros(6))  # noqa: E731
S("hopfield.check_patterns", lambda: dict(name="patterns", patterns=pm1(2, 6)), patterns=Arr(2))
S("hopfield.check_weights", lambda: dict(W=sym(6)), W=Arr(2))
S("hopfield.sgn", lambda: dict(h=g(6)))
S("hopfield.hebbian_weights", lambda: dict(patterns=pm1(2, 6)))
S("hopfield.pseudo_inverse_weights", lambda: dict(patterns=pm1(2, 6)))
S("hopfield.perceptron_weights", lambda: dict(patterns=pm1(2, 6), epochs=2, init=sym(6)))
S("hopfield.local_field", HOP)
S("hopfield.energy", HOP)
S("hopfield.async_step", lambda: dict(HOP(), i=0))
S("hopfield.async_sweep", HOP)
S("hopfield.sync_step", HOP)
S("hopfield.run", lambda: dict(HOP(), max_steps=3))
S("hopfield.is_fixed_point", HOP)
S("hopfield.all_states", lambda: dict(N=3))
S("hopfield.attractor_map", lambda: dict(W=sym(3), theta=torch.zeros(3), max_steps=3))
S("hopfield.classify_attractors", lambda: dict(attractors=pm1(3, 6), patterns=pm1(2, 6, seed=1)))
S("hopfield.overlap", lambda: dict(x=pm1(2, 6), patterns=pm1(2, 6, seed=1)))
S("hopfield.flip_noise", lambda: dict(x=pm1(1, 6)[0], p=0.2))
S("hopfield.capacity_curve", lambda: dict(N=8, loads=[0.1, 0.2], trials=1, max_sweeps=2,
                                          patterns_fn=lambda M, N, g: pm1(M, N)))
S("hopfield.modern_update", lambda: dict(patterns=pm1(3, 6), xi=pm1(1, 6)[0]))
S("hopfield.modern_recall", lambda: dict(patterns=pm1(3, 6), xi=pm1(1, 6)[0]))

# ---- cnn --------------------------------------------------------------------------------------
TINY = lambda: torch.nn.Conv2d(1, 2, 3)  # noqa: E731
S("cnn.conv_output_size", lambda: dict(n=8, k=3))
S("cnn.receptive_field", lambda: dict(layers=[(3, 1), (3, 2)]))
S("cnn.conv2d_unfold", lambda: dict(x=g(2, 1, 5, 5), weight=g(2, 1, 3, 3, seed=1), bias=g(2, seed=2)))
S("cnn.conv_params", lambda: dict(c_in=2, c_out=4, k=3))
S("cnn.conv_macs", lambda: dict(c_in=2, c_out=4, k=3, h=5, w=5))
S("cnn.separable_params", lambda: dict(c_in=2, c_out=4, k=3))
S("cnn.separable_ratio", lambda: dict(k=3, d=4))
S("cnn.count_flops", lambda: dict(module=TINY(), x=g(1, 1, 5, 5)))
S("cnn.count_params", lambda: dict(module=TINY()))
S("cnn.measure_latency", lambda: dict(module=TINY(), x=g(1, 1, 5, 5), repeats=1, warmup=0))
S("cnn.channel_shuffle", lambda: dict(x=g(1, 4, 2, 2), groups=2))
S("cnn.DepthwiseSeparableConv", lambda: dict(c_in=2, c_out=4))
S("cnn.GroupShuffleConv", lambda: dict(c_in=4, c_out=4, groups=2))
S("cnn.InvertedResidual", lambda: dict(channels=4, expand=2))
S("cnn.GAPHead", lambda: dict(channels=4, n_classes=3))
S("cnn.FCHead", lambda: dict(channels=4, height=2, width=2, n_classes=3))
S("cnn.LeNet5", lambda: dict(n_classes=10))
S("cnn.digits_to_images", lambda: dict(X=torch.rand(3, 64)))
S("cnn.random_shift", lambda: dict(x=g(2, 1, 8, 8)))
S("cnn.train_classifier", lambda: dict(model=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2)), X=g(8, 1, 4, 4), y=torch.arange(8) % 2, epochs=1, batch_size=4))
S("cnn.accuracy", lambda: dict(model=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2)), X=g(8, 1, 4, 4), y=torch.arange(8) % 2))

# ---- gnn --------------------------------------------------------------------------------------
EI = lambda: torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])  # noqa: E731  a path 0-1-2-3
ADJ = lambda: __import__("nnbook.gnn").gnn.edge_index_to_adjacency(EI(), 4)  # noqa: E731
S("gnn.check_edge_index", lambda: dict(edge_index=EI(), num_nodes=4))
S("gnn.edge_index_to_adjacency", lambda: dict(edge_index=EI(), num_nodes=4))
S("gnn.normalized_adjacency", lambda: dict(adj=ADJ()))
S("gnn.random_walks", lambda: dict(edge_index=EI(), num_nodes=4, walk_length=3, walks_per_node=1))
S("gnn.skipgram_pairs", lambda: dict(walks=torch.tensor([[0, 1, 2], [3, 2, 1]]), window=1))
S("gnn.SkipGram", lambda: dict(num_nodes=4, dim=2))
S("gnn.train_skipgram", lambda: dict(walks=torch.tensor([[0, 1, 2], [3, 2, 1]]), num_nodes=4, dim=2, window=1, epochs=1))
S("gnn.MessagePassing", lambda: dict())
S("gnn.GCNConv", lambda: dict(in_dim=3, out_dim=2))
S("gnn.GCNConv.forward", lambda: dict(x=g(4, 3), edge_index=EI()), make=lambda: __import__("nnbook.gnn").gnn.GCNConv(3, 2).forward)
S("gnn.SAGEConv", lambda: dict(in_dim=3, out_dim=2))
S("gnn.GATConv", lambda: dict(in_dim=3, out_dim=2))
S("gnn.GGNNConv", lambda: dict(in_dim=3))
S("gnn.GNN", lambda: dict(in_dim=3, hidden_dim=4, out_dim=2))
S("gnn.train_node_classifier", lambda: dict(model=__import__("nnbook.gnn").gnn.GNN(3, 4, 2), x=g(4, 3), edge_index=EI(), labels=torch.tensor([0, 1, 0, 1]),
                                               train_mask=torch.tensor([True, True, False, False]), epochs=1))
S("gnn.accuracy", lambda: dict(logits=g(4, 2), labels=torch.tensor([0, 1, 0, 1]), mask=torch.tensor([True, False, True, True])))
S("gnn.dirichlet_energy", lambda: dict(x=g(4, 3), adj=ADJ()))
S("gnn.mean_cosine_similarity", lambda: dict(x=g(4, 3)))
S("gnn.sbm_graph", lambda: dict(sizes=(3, 3)))
S("gnn.mean_aggregation", lambda: dict(x=g(4, 3), edge_index=EI()))

# ---- rbm --------------------------------------------------------------------------------------
RBM_ = lambda: __import__("nnbook.rbm").rbm.RBM(4, 2, generator=torch.Generator().manual_seed(0))  # noqa: E731
S("rbm.check_binary", lambda: dict(name="x", x=bits(3, 4)), x=Arr(2))
S("rbm.all_binary_states", lambda: dict(n=3))
S("rbm.bm_energy", lambda: dict(W=sym(4), b=torch.zeros(4), s=bits(3, 4)))
S("rbm.boltzmann_distribution", lambda: dict(W=sym(4), b=torch.zeros(4)))
S("rbm.bm_gibbs", lambda: dict(W=sym(4), b=torch.zeros(4), n_sweeps=2, s0=bits(2, 4, seed=1)))
S("rbm.empirical_distribution", lambda: dict(samples=bits(5, 3)))
S("rbm.total_variation", lambda: dict(p=torch.tensor([0.5, 0.5]), q=torch.tensor([0.2, 0.8])))
S("rbm.RBM", lambda: dict(n_visible=4, n_hidden=2))
S("rbm.rbm_from_sklearn", lambda: dict(model=__import__("sklearn.neural_network", fromlist=["x"]).BernoulliRBM(n_components=2, n_iter=1, random_state=0).fit(bits(6, 4).numpy())))
S("rbm.train_rbm", lambda: dict(rbm=RBM_(), X=bits(6, 4), epochs=1, batch_size=3, X_test=bits(4, 4, seed=1)))
S("rbm.DBN", lambda: dict(rbm1=RBM_(), rbm2=__import__("nnbook.rbm").rbm.RBM(2, 2)))
S("rbm.wake_sleep", lambda: dict(dbn=__import__("nnbook.rbm").rbm.DBN(RBM_(), __import__("nnbook.rbm").rbm.RBM(2, 2)), X=bits(6, 4), epochs=1, batch_size=3, k=1))

# ---- train ------------------------------------------------------------------------------------
S("train.GradientNorm", lambda: dict())
S("train.RelativeChange", lambda: dict())
S("train.EarlyStopping", lambda: dict())
S("train.MaxEpochs", lambda: dict())
S("train.fit", lambda: dict(model=torch.nn.Linear(2, 1), train_data=(g(6, 2), g(6, 1, seed=1)), loss_fn=torch.nn.MSELoss(), max_epochs=1))
S("train.gradient_norm", lambda: dict(model=torch.nn.Linear(2, 1)))
S("train.train_steps", lambda: (lambda m: dict(model=m, step_loss=lambda s: m(g(4, 2)).pow(2).mean(),
                                                 optimizer=torch.optim.SGD(m.parameters(), lr=0.1), steps=2, every=1))(torch.nn.Linear(2, 1)))
S("train.minibatches", lambda: dict(n=5, batch_size=2))

# ---- metrics ----------------------------------------------------------------------------------
CLF = lambda: __import__("nnbook.metrics").metrics.DigitClassifier()  # noqa: E731
S("metrics.DigitClassifier")
S("metrics.train_digit_classifier", lambda: dict(epochs=1))
S("metrics.digit_features", lambda: dict(model=CLF(), X=torch.rand(3, 64)))
S("metrics.digit_probabilities", lambda: dict(model=CLF(), X=torch.rand(3, 64)))
S("metrics.frechet_distance", lambda: dict(features_a=g(10, 2).numpy(), features_b=g(10, 2, seed=1).numpy()))
S("metrics.frechet_distance_gaussians", lambda: dict(mu1=np.zeros(2), cov1=np.eye(2), mu2=np.ones(2), cov2=np.eye(2)))
S("metrics.precision_recall", lambda: dict(real=g(10, 2).numpy(), fake=g(10, 2, seed=1).numpy()))
S("metrics.evaluate_samples", lambda: dict(model=CLF(), X_real=torch.rand(10, 64), X_fake=torch.rand(10, 64)))

# ---- vae --------------------------------------------------------------------------------------
S("vae.gaussian_kl", lambda: dict(mu=g(3, 2), logvar=g(3, 2, seed=1)))
S("vae.reparameterize", lambda: dict(mu=g(3, 2), logvar=g(3, 2, seed=1), eps=g(3, 2, seed=2)))
S("vae.bernoulli_log_likelihood", lambda: dict(x=bits(3, 4), logits=g(3, 4)))
S("vae.bernoulli_elbo", lambda: dict(x=bits(3, 4), logits=g(3, 4), mu=g(3, 2), logvar=g(3, 2, seed=1)))
S("vae.VAE", lambda: dict(input_dim=4, latent_dim=2, hidden=(3,)))
S("vae.train_vae", lambda: dict(model=__import__("nnbook.vae").vae.VAE(4, 2, (3,)), X=bits(6, 4), steps=1, batch_size=3))
S("vae.independent_pixel_nll", lambda: dict(X_train=bits(6, 4), X_test=bits(3, 4, seed=1)))
S("vae.importance_log_likelihood", lambda: dict(model=__import__("nnbook.vae").vae.VAE(4, 2, (3,)), x=bits(3, 4), k=2))
S("vae.reparam_gradient", lambda: dict(f=lambda z: z ** 2, mu=0.0, log_sigma=0.0, n=4))
S("vae.score_function_gradient", lambda: dict(f=lambda z: z ** 2, mu=0.0, log_sigma=0.0, n=4))
S("vae.mean_bernoulli_entropy", lambda: dict(p=torch.rand(3, 4)))

# ---- rnn --------------------------------------------------------------------------------------
RNNW = lambda: dict(x=g(2, 5, 3), W_xh=g(4, 3, seed=1) * 0.3, W_hh=g(4, 4, seed=2) * 0.3, b=torch.zeros(4), h0=torch.zeros(2, 4))  # noqa: E731
S("rnn.rnn_forward", RNNW)
S("rnn.rnn_bptt", lambda: dict(RNNW(), hs=__import__("nnbook.rnn").rnn.rnn_forward(**RNNW()), grad_hs=g(2, 5, 4, seed=3)))
S("rnn.jacobian_norms", lambda: dict(W_hh=g(4, 4) * 0.3, hs=torch.tanh(g(5, 4, seed=1))))
S("rnn.scaled_orthogonal", lambda: dict(n=3, sigma=1.0))
S("rnn.clip_grad_norm", lambda: dict(grads=[g(2, 2), g(3, seed=1)], max_norm=1.0))
S("rnn.layer_norm", lambda: dict(a=g(2, 4), gain=torch.ones(4), bias=torch.zeros(4)))
S("rnn.variational_mask", lambda: dict(batch=2, hidden=3, p=0.5))
S("rnn.ElmanRNN", lambda: dict(input_size=1, hidden_size=3))
S("rnn.GatedRegressor", lambda: dict(kind="lstm", input_size=1, hidden_size=3))
LSTM = lambda: dict(x=g(2, 3), h=g(2, 4, seed=1), c=g(2, 4, seed=2), W_ih=g(16, 3, seed=3), W_hh=g(16, 4, seed=4), b_ih=torch.zeros(16), b_hh=torch.zeros(16))  # noqa: E731
S("rnn.lstm_step", LSTM)
S("rnn.gru_step", lambda: dict(x=g(2, 3), h=g(2, 4, seed=1), W_ih=g(12, 3, seed=3), W_hh=g(12, 4, seed=4), b_ih=torch.zeros(12), b_hh=torch.zeros(12)))
S("rnn.rnn_param_count", lambda: dict(input_size=2, hidden_size=3))
S("rnn.lstm_param_count", lambda: dict(input_size=2, hidden_size=3))
S("rnn.gru_param_count", lambda: dict(input_size=2, hidden_size=3))
S("rnn.train_regressor", lambda: dict(model=__import__("nnbook.rnn").rnn.ElmanRNN(1, 3), X=g(8, 5, 1), y=g(8, seed=1), steps=1, batch_size=4))
S("rnn.evaluate_mse", lambda: dict(model=__import__("nnbook.rnn").rnn.ElmanRNN(1, 3), X=g(8, 5, 1), y=g(8, seed=1)))

# ---- transformer ------------------------------------------------------------------------------
TF = lambda: __import__("nnbook.transformer").transformer  # noqa: E731
TINY_TF = lambda: TF().Transformer(TF().TransformerConfig(vocab_size=5, block_size=8, d_model=8, n_heads=2, n_layers=1))  # noqa: E731
BATCH = lambda: (lambda: (torch.randint(5, (2, 4)), torch.randint(5, (2, 4))))  # noqa: E731
S("transformer.scaled_dot_product_attention", lambda: dict(q=g(2, 3, 4), k=g(2, 3, 4, seed=1), v=g(2, 3, 4, seed=2)))
S("transformer.causal_mask", lambda: dict(T=3))
S("transformer.padding_mask", lambda: dict(tokens=torch.tensor([[1, 2, 0]]), pad_id=0))
S("transformer.sinusoidal_positional_encoding", lambda: dict(T=3, d_model=4))
S("transformer.MultiHeadAttention", lambda: dict(d_model=8, n_heads=2))
S("transformer.FeedForward", lambda: dict(d_model=8, d_ff=16))
S("transformer.LayerNorm", lambda: dict(d_model=8))
S("transformer.Block", lambda: dict(d_model=8, n_heads=2, d_ff=16))
S("transformer.TransformerConfig", lambda: dict(vocab_size=5))
S("transformer.Transformer", lambda: dict(config=TF().TransformerConfig(vocab_size=5, block_size=8, d_model=8, n_heads=2, n_layers=1)))
S("transformer.Transformer.forward", lambda: dict(idx=torch.tensor([[1, 2, 3]])), make=lambda: TINY_TF().forward, idx=Arr(2))
S("transformer.generate", lambda: dict(model=TINY_TF(), idx=torch.tensor([[1, 2]]), n_new=2))
S("transformer.CharTokenizer", lambda: dict(text="hello"))
S("transformer.load_corpus", lambda: dict(n_chars=100))
S("transformer.lm_batch", lambda: dict(data=torch.arange(20), batch_size=2, block_size=4))
S("transformer.mask_tokens", lambda: dict(x=torch.randint(1, 5, (2, 6))))
S("transformer.reversal_data", lambda: dict(n=2, length=3, n_symbols=4))
S("transformer.train_tokens", lambda: dict(model=TINY_TF(), batch_fn=BATCH(), steps=1))
S("transformer.distillation_loss", lambda: dict(student_logits=g(8, 5), teacher_logits=g(8, 5, seed=1), targets=torch.arange(8) % 5))
S("transformer.distill_tokens", lambda: dict(student=TINY_TF(), teacher=TINY_TF(), batch_fn=BATCH(), steps=1))
S("transformer.time_forward", lambda: dict(fn=lambda: None, repeats=1))
S("transformer.saved_activation_bytes", lambda: dict(fn=lambda: None))
TOK = lambda: dict(model=__import__("nnbook.rnn").rnn.GatedRegressor("gru", 4, 3, output_size=4), X=torch.arange(12).reshape(3, 4) % 4, y=torch.arange(12).reshape(3, 4) % 4)  # noqa: E731
S("rnn.token_accuracy", TOK)
S("rnn.train_token_classifier", lambda: dict(TOK(), steps=1, batch_size=2))
PARITY_TF = lambda: TF().Transformer(TF().TransformerConfig(vocab_size=3, block_size=16, d_model=8, n_heads=2, n_layers=1))  # noqa: E731
S("transformer.parity_data", lambda: dict(n=3, n_bits=4, pool=torch.tensor([1, 2, 3])))
S("transformer.parity_batch", lambda: dict(n=3, n_bits=4, pool=torch.tensor([1, 2, 3])))
S("transformer.parity_accuracy", lambda: dict(model=PARITY_TF(), codes=torch.tensor([1, 2, 3]), n_bits=4))

# ---- autoregressive, flows --------------------------------------------------------------------
AR_ = lambda: __import__("nnbook.autoregressive").autoregressive  # noqa: E731
FL_ = lambda: __import__("nnbook.flows").flows  # noqa: E731
S("autoregressive.check_binary_rows", lambda: dict(name="x", x=bits(3, 4), dim=4), x=Arr(2), dim=Int(1, optional=True))
S("autoregressive.made_degrees", lambda: dict(input_dim=4, hidden=(3,), order=torch.tensor([2, 0, 3, 1])))
S("autoregressive.made_masks", lambda: dict(input_dim=4, hidden=(3,), order=torch.tensor([2, 0, 3, 1])))
S("autoregressive.MaskedLinear", lambda: dict(in_features=3, out_features=2, mask=torch.ones(2, 3)))
S("autoregressive.MADE", lambda: dict(input_dim=4, hidden=(3,), order=torch.tensor([2, 0, 3, 1])))
S("autoregressive.MADE.log_prob", lambda: dict(x=bits(3, 4)), make=lambda: AR_().MADE(4, 3).log_prob)
S("autoregressive.MADE.logits", lambda: dict(x=g(3, 4)), make=lambda: AR_().MADE(4, 3).logits)
S("autoregressive.MADE.sample", lambda: dict(n=2), make=lambda: AR_().MADE(4, 3).sample)
S("autoregressive.train_made", lambda: dict(X_train=bits(6, 4), epochs=1, hidden=3))
S("autoregressive.input_output_jacobian", lambda: dict(model=AR_().MADE(4, 3), x=g(4)))
S("flows.standard_normal_log_prob", lambda: dict(z=g(3, 2)))
S("flows.AffineCoupling", lambda: dict(dim=2, mask=torch.tensor([1.0, 0.0]), hidden=3))
S("flows.RealNVP", lambda: dict(dim=2, n_couplings=2, hidden=3))
S("flows.RealNVP.forward", lambda: dict(x=g(3, 2)), make=lambda: FL_().RealNVP(2, 2, 3).forward)
S("flows.RealNVP.inverse", lambda: dict(z=g(3, 2)), make=lambda: FL_().RealNVP(2, 2, 3).inverse)
S("flows.RealNVP.log_prob", lambda: dict(x=g(3, 2)), make=lambda: FL_().RealNVP(2, 2, 3).log_prob)
S("flows.RealNVP.sample", lambda: dict(n=2), make=lambda: FL_().RealNVP(2, 2, 3).sample)
S("flows.train_flow", lambda: dict(X_train=g(6, 2), steps=1, n_couplings=1, hidden=3))
S("flows.autograd_log_det", lambda: dict(f=lambda v: 2 * v, x=g(3, 2)))

# ---- diffusion --------------------------------------------------------------------------------
DF_ = lambda: __import__("nnbook.diffusion").diffusion  # noqa: E731
SCHED = lambda: DF_().NoiseSchedule.make("linear", 10)  # noqa: E731
DDPM_ = lambda: DF_().DDPM(DF_().NoisePredictor(2, 10, hidden=4, depth=1, num_classes=2), SCHED())  # noqa: E731
STEP = lambda: dict(x_t=g(4, 2), eps=g(4, 2, seed=1), noise=g(4, 2, seed=2))  # noqa: E731
SAMPLE = lambda: dict(n=2, labels=torch.tensor([0, 1]), guidance=1.0, sampling_steps=2)  # noqa: E731
SAMPLE_ARGS = dict(n=COUNT, labels=Arr(1), guidance=NONNEG, sampling_steps=Int(1, 10, optional=True))
BETA = Float(0, 1, True, True)
S("diffusion.linear_betas", lambda: dict(T=10))
S("diffusion.cosine_betas", lambda: dict(T=10))
S("diffusion.NoiseSchedule", lambda: dict(betas=torch.full((5,), 0.1)))
S("diffusion.NoiseSchedule.make", lambda: dict(kind="cosine", T=10), make=lambda: DF_().NoiseSchedule.make)
S("diffusion.NoiseSchedule.check_t", lambda: dict(t=torch.tensor([1, 2, 3]), n=3), make=lambda: SCHED().check_t)
S("diffusion.q_mean_var", lambda: dict(x0=g(4, 2), t=torch.tensor([0, 1, 5, 10]), schedule=SCHED()))
S("diffusion.q_sample", lambda: dict(x0=g(4, 2), t=3, schedule=SCHED(), noise=g(4, 2, seed=1)))
S("diffusion.forward_iterate", lambda: dict(x0=g(4, 2), t=3, schedule=SCHED()))
S("diffusion.ddpm_step", lambda: dict(STEP(), t=3, schedule=SCHED(), clip=1.0))
S("diffusion.ddim_step", lambda: dict(STEP(), alpha_bar_t=0.5, alpha_bar_prev=0.9, eta=0.5, clip=1.0))
S("diffusion.ddim_timesteps", lambda: dict(T=10, steps=4))
S("diffusion.NoisePredictor", lambda: dict(dim=2, T=10, hidden=4, depth=1))
S("diffusion.DDPM", lambda: dict(net=DF_().NoisePredictor(2, 10, hidden=4, depth=1), schedule=SCHED(), lo=0.0, hi=2.0))
S("diffusion.DDPM.normalize", lambda: dict(x=g(3, 2)), make=lambda: DDPM_().normalize)
S("diffusion.DDPM.sample", SAMPLE, make=lambda: DDPM_().sample)
S("diffusion.DDPM.trajectory", lambda: dict(SAMPLE(), keep=2), make=lambda: DDPM_().trajectory)
S("diffusion.train_ddpm", lambda: dict(X_train=g(6, 2), y_train=torch.arange(6) % 2, steps=1, T=5, hidden=4, depth=1, batch_size=3, every=1))


# ---- autoencoder ------------------------------------------------------------------------------
_AE = lambda: __import__("nnbook.autoencoder").autoencoder  # noqa: E731
S("autoencoder.Autoencoder", lambda: dict(sizes=(4, 2)))
S("autoencoder.kl_sparsity_penalty", lambda: dict(rho_hat=torch.rand(5) * 0.9 + 0.05, rho=0.1))
S("autoencoder.corrupt", lambda: dict(x=torch.rand(3, 4), kind="masking", level=0.3))
S("autoencoder.train_autoencoder", lambda: dict(model=_AE().Autoencoder((4, 2)), X=torch.rand(6, 4), steps=1, batch_size=3))
S("autoencoder.reconstruction_error", lambda: dict(model=_AE().Autoencoder((4, 2)), X=torch.rand(6, 4), X_target=torch.rand(6, 4)))

# ---- gan --------------------------------------------------------------------------------------
_GAN = lambda: __import__("nnbook.gan").gan  # noqa: E731
S("gan.discriminator_loss", lambda: dict(real_logits=g(4), fake_logits=g(4, seed=1)))
S("gan.generator_loss", lambda: dict(fake_logits=g(4)))
S("gan.critic_loss", lambda: dict(real_scores=g(4), fake_scores=g(4, seed=1)))
S("gan.gradient_penalty", lambda: dict(critic=lambda x: x.sum(1), real=g(4, 2), fake=g(4, 2, seed=1), alpha=torch.full((4,), 0.5)))
S("gan.optimal_discriminator", lambda: dict(p_data=np.full(5, 0.2), p_model=np.full(5, 0.1)))
S("gan.js_divergence", lambda: dict(p=np.full(5, 0.2), q=np.array([0.1, 0.2, 0.3, 0.2, 0.2])))
S("gan.adain", lambda: dict(x=g(2, 3, 4, 4), style_scale=g(2, 3).abs() + 0.5, style_bias=g(2, 3, seed=1)))
S("gan.ring_centres", lambda: dict(n_modes=8, radius=2.0))
S("gan.mode_coverage", lambda: dict(samples=g(50, 2).numpy(), centres=np.array([[0.0, 0.0], [2.0, 0.0]]), std=0.5))
S("gan.mlp", lambda: dict(sizes=(2, 4, 1)))
S("gan.EnsembleLinear", lambda: dict(n_models=2, d_in=3, d_out=4))
S("gan.ensemble_mlp", lambda: dict(n_models=2, sizes=(2, 4, 1)))
S("gan.train_2d_gan", lambda: dict(X=g(40, 2).numpy(), steps=2, batch_size=8))
S("gan.train_discriminator", lambda: dict(x_data=g(20, 1).numpy(), x_model=g(20, 1, seed=1).numpy(), steps=2, batch_size=8))
S("gan.MLPDigitGenerator", lambda: dict(z_dim=4, hidden=8))
S("gan.MLPDigitDiscriminator", lambda: dict(hidden=8))
S("gan.DCGANGenerator", lambda: dict(z_dim=4, channels=4))
S("gan.DCGANDiscriminator", lambda: dict(channels=4))
S("gan.train_digit_gan", lambda: dict(X_train=torch.rand(16, 64), steps=1, batch_size=8, width=4))
S("gan.train_cycle_gan", lambda: dict(X_a=g(20, 2).numpy(), X_b=g(20, 2, seed=1).numpy(), steps=1, batch_size=8))

S("gan.StyleGenerator", lambda: dict(z_dim=4, w_dim=4, channels=4))
S("gan.StyleGenerator.mix", lambda: dict(z_coarse=g(3, 4), z_fine=g(3, 4, seed=1), n_coarse=2), make=lambda: _GAN().StyleGenerator(z_dim=4, w_dim=4, channels=4).mix)
S("gan.StyleGenerator.synthesis", lambda: dict(ws=g(3, 3, 4)), make=lambda: _GAN().StyleGenerator(z_dim=4, w_dim=4, channels=4).synthesis)
S("gan.train_style_gan", lambda: dict(X_train=torch.rand(16, 64), steps=1, batch_size=8, channels=4))

# ---- moved from the chapter-18 helpers: metrics, flows, vae --------------------------------------
S("metrics.timed", lambda: dict(fn=lambda: 0))
S("flows.dequantize", lambda: dict(X=bits(3, 4)))
S("flows.dequantized_nll", lambda: dict(log_prob=lambda y: -(y ** 2).sum(1), X=bits(3, 4), n_samples=2))
S("metrics.edge_energy", lambda: dict(X=torch.rand(2, 64)))
S("vae.importance_weighted_bound", lambda: dict(log_w=g(3, 2)))

# ---- rbf: k-means, the PNN and the SOM; mixture: the Student-t EM
def _pnn():
    return __import__("nnbook.rbf").rbf.PNN(0.5).fit(g(12, 2).numpy(), np.arange(12) % 2)


def _som():
    return __import__("nnbook.rbf").rbf.SelfOrganizingMap((3, 3)).fit(g(12, 2).numpy(), steps=5)


S("rbf.kmeans", lambda: dict(X=g(12, 2).numpy(), k=3, max_iter=5, init=g(3, 2, seed=1).numpy()))
S("rbf.PNN", lambda: dict(width=0.5))
S("rbf.PNN.fit", lambda: dict(X=g(12, 2).numpy(), y=np.arange(12) % 2), make=lambda: __import__("nnbook.rbf").rbf.PNN().fit)
S("rbf.PNN.class_log_likelihood", lambda: dict(X=g(4, 2, seed=1).numpy()), make=lambda: _pnn().class_log_likelihood)
S("rbf.SelfOrganizingMap", lambda: dict(grid=(3, 3), lr=(0.5, 0.01), radius=(1.0, 0.5)))
S("rbf.SelfOrganizingMap.fit", lambda: dict(X=g(12, 2).numpy(), steps=5),
  make=lambda: __import__("nnbook.rbf").rbf.SelfOrganizingMap((3, 3)).fit)
S("rbf.SelfOrganizingMap.quantization_error", lambda: dict(X=g(4, 2, seed=1).numpy(), weights=g(9, 2, seed=2).numpy()), make=lambda: _som().quantization_error)
S("rbf.SelfOrganizingMap.topographic_error", lambda: dict(X=g(4, 2, seed=1).numpy(), weights=g(9, 2, seed=2).numpy()), make=lambda: _som().topographic_error)
S("mixture.student_t_em", lambda: dict(x=g(20).numpy(), max_iter=5, nu_bounds=(0.05, 1000.0)))

# ---- chnn: the analogue circuit; hopfield: hetero-association, pruning, repeated learning, layers; gnn: augmentation
NEG3 = lambda: torch.tensor([[0.0, -1e-5, -1e-5], [-1e-5, 0.0, -1e-5], [-1e-5, -1e-5, 0.0]])  # noqa: E731
S("chnn.circuit_resistance", lambda: dict(T=NEG3(), rho=1e5))
S("chnn.circuit_to_chnn", lambda: dict(T=NEG3(), R=4e4, C=25e-9, I_ext=torch.zeros(3)))
S("chnn.simulate_circuit", lambda: dict(T=NEG3(), R=4e4, C=25e-9, I_ext=torch.zeros(3), u_start=torch.zeros(3),
                                        t_eval=np.linspace(0.0, 1e-3, 3)))
S("chnn.draw_circuit", lambda: dict(T=NEG3()))
S("hopfield.hetero_weights", lambda: dict(inputs=pm1(2, 6), outputs=pm1(2, 4, seed=1)))
S("hopfield.bam_recall", lambda: dict(W=g(4, 6), x=pm1(1, 6)[0], max_steps=2))
S("hopfield.prune_weights", lambda: dict(W=sym(6), fraction=0.5, generator=torch.Generator().manual_seed(0)))
S("hopfield.repeated_learning_weights", lambda: dict(patterns=pm1(2, 6), lr=0.1, epochs=2))
S("hopfield.layered_weights", lambda: dict(patterns=pm1(4, 6), modules=2))
S("hopfield.layered_recall", lambda: dict(Ws=torch.stack([sym(6), sym(6, seed=1)]), x=pm1(1, 6)[0], max_steps=2))
S("gnn.drop_edges", lambda: dict(edge_index=EI(), p=0.5, generator=torch.Generator().manual_seed(0)))
S("gnn.add_virtual_node", lambda: dict(x=g(4, 3), edge_index=EI()))
