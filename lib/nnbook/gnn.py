"""Graph neural networks: random-walk embeddings and message passing.

A graph with ``n`` nodes is given either as a dense adjacency ``A`` of shape
``(n, n)`` or as an ``edge_index`` of shape ``(2, E)`` whose column ``(j, i)``
is a directed edge j → i (message from source ``j`` to target ``i``; an
undirected edge appears twice). Node features ``X`` have shape ``(n, d)``.

Classical embeddings (no node features)
    :func:`random_walks` — DeepWalk (``p = q = 1``) and node2vec's biased
    second-order walk (return parameter ``p``, in-out parameter ``q``);
    :class:`SkipGram` + :func:`train_skipgram` — skip-gram with negative sampling::

        loss = −log σ(z_cᵀ z'_o) − Σ_{k=1..K} log σ(−z_cᵀ z'_{n_k})

Message passing (消息传递), one layer::

    m_{j→i} = message(h_j, h_i)                    for every edge j → i
    a_i     = AGGREGATE_{j ∈ N(i)} m_{j→i}         (sum, mean or max)
    h_i'    = update(a_i, h_i)

Layers (each a :class:`MessagePassing`):
    :class:`GCNConv`   h_i' = Σ_{j ∈ N(i) ∪ {i}} W h_j / √(d̃_i d̃_j) + b,   i.e.  H' = D̃^{-1/2}(A+I)D̃^{-1/2} H W + b
    :class:`SAGEConv`  h_i' = W_1 h_i + W_2 mean_{j ∈ N(i)} h_j
    :class:`GATConv`   h_i' = Σ_{j ∈ N(i) ∪ {i}} α_ij W h_j,  α_ij = softmax_j LeakyReLU(aᵀ[W h_i ‖ W h_j])
    :class:`GGNNConv`  h_i' = GRU(Σ_{j ∈ N(i)} W h_j, h_i)

:class:`GNN` stacks them (with optional residual or initial-residual skips);
:func:`dirichlet_energy` and :func:`mean_cosine_similarity` measure over-smoothing;
:func:`drop_edges` (DropEdge) and :func:`add_virtual_node` are two graph augmentations (图增强)
tried against it (``train_node_classifier(..., drop_edge=p)`` resamples the graph every epoch).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from nnbook.exercises import CheckFailed, exercise, expect_close
from nnbook.train import minibatches, train_steps
from nnbook.utils import seeded
from nnbook.validate import (COUNT, NONNEGATIVE, POSITIVE, PROBABILITY, SEED, Array, Float, Instance, Int, OneOf,
                             Tensor, checked)

__all__ = [
    "check_edge_index",
    "edge_index_to_adjacency",
    "normalized_adjacency",
    "random_walks",
    "skipgram_pairs",
    "SkipGram",
    "train_skipgram",
    "MessagePassing",
    "GCNConv",
    "SAGEConv",
    "GATConv",
    "GGNNConv",
    "GNN",
    "train_node_classifier",
    "accuracy",
    "dirichlet_energy",
    "mean_cosine_similarity",
    "sbm_graph",
    "mean_aggregation",
    "drop_edges",
    "add_virtual_node",
]


# ---------------------------------------------------------------- graph input
@dataclass(frozen=True)
class EdgeIndex(Tensor):
    """The rule for an ``edge_index``: a ``(2, E)`` integer tensor (``E`` may be 0), returned as int64.

    Whether its entries lie in ``[0, n)`` is checked where ``n`` is known (:func:`_in_range`).
    """

    ndim: int = 2
    allow_empty: bool = True

    def check(self, name, value):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            raise TypeError(f"{name} must hold integers, got dtype {value.dtype}")
        ei = super().check(name, value)
        if ei.is_floating_point():
            raise TypeError(f"{name} must hold integers, got dtype {ei.dtype}")
        if ei.shape[0] != 2:
            raise ValueError(f"{name} must have shape (2, E), got {tuple(ei.shape)}")
        return ei.long()


@dataclass(frozen=True)
class Features(Tensor):
    """The rule for node features ``(n, d)`` (or an adjacency, ``square``); integers become floats."""

    ndim: int = 2
    square: bool = False

    def check(self, name, value):
        a = super().check(name, value)
        if self.square and a.shape[0] != a.shape[1]:
            raise ValueError(f"{name} must be square (n, n), got shape {tuple(a.shape)}")
        return a if a.is_floating_point() else a.to(torch.get_default_dtype())


@dataclass(frozen=True)
class Sizes(Array):
    """The rule for a list of block sizes: positive integers."""

    ndim: int = 1
    dtype: object = None

    def check(self, name, value):
        return [COUNT(f"{name}[{i}]", s.item()) for i, s in enumerate(super().check(name, value))]


EDGE_INDEX, FEATURES, ADJACENCY = EdgeIndex(), Features(), Features(square=True)
PER_NODE = Tensor(ndim=1)  # labels, masks: one entry per node


def _in_range(ei: torch.Tensor, num_nodes: int) -> torch.Tensor:
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= num_nodes):
        raise ValueError(
            f"edge_index has node indices outside [0, {num_nodes}): min {int(ei.min())}, max {int(ei.max())}"
        )
    return ei


def _per_node(name: str, t: torch.Tensor, n: int) -> torch.Tensor:
    if t.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one entry per node), got {tuple(t.shape)}")
    return t


@checked(edge_index=EDGE_INDEX, num_nodes=COUNT)
def check_edge_index(edge_index, num_nodes: int) -> torch.Tensor:
    """Return ``edge_index`` as a ``(2, E)`` int64 tensor with entries in ``[0, num_nodes)``, or raise."""
    return _in_range(edge_index, num_nodes)


@checked(edge_index=EDGE_INDEX, num_nodes=COUNT)
def edge_index_to_adjacency(edge_index, num_nodes: int) -> torch.Tensor:
    """Dense ``(n, n)`` adjacency with ``A[i, j] = 1`` for each edge j → i (symmetric for undirected graphs)."""
    ei = _in_range(edge_index, num_nodes)
    a = torch.zeros(num_nodes, num_nodes, device=ei.device)
    a[ei[1], ei[0]] = 1.0
    return a


@checked(adj=ADJACENCY)
def normalized_adjacency(adj, self_loops: bool = True) -> torch.Tensor:
    """Symmetric normalised adjacency ``D̃^{-1/2} Ã D̃^{-1/2}`` with ``Ã = A + I`` (or ``A``), ``D̃ = diag(Ã 1)``.

    adj: ``(n, n)``. Nodes of degree 0 get a zero row (no division by zero).
    """
    a = adj
    if self_loops:
        a = a + torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    deg = a.sum(dim=1)
    d_inv_sqrt = torch.where(deg > 0, deg.clamp(min=1e-12).rsqrt(), torch.zeros_like(deg))
    return d_inv_sqrt[:, None] * a * d_inv_sqrt[None, :]


def _neighbour_lists(ei: torch.Tensor, n: int) -> list[np.ndarray]:
    src, dst = ei.cpu().numpy()
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    bounds = np.searchsorted(src, np.arange(n + 1))
    return [dst[bounds[v] : bounds[v + 1]] for v in range(n)]


# ---------------------------------------------------------------- DeepWalk / node2vec
@checked(edge_index=EDGE_INDEX, num_nodes=COUNT, walk_length=COUNT, walks_per_node=COUNT, p=POSITIVE, q=POSITIVE,
         seed=SEED)
def random_walks(edge_index, num_nodes: int, walk_length: int = 20, walks_per_node: int = 10,
                 p: float = 1.0, q: float = 1.0, seed: int = 0) -> np.ndarray:
    """Random walks, shape ``(num_nodes · walks_per_node, walk_length)``, starting once per node per round.

    ``p = q = 1`` is DeepWalk's uniform walk. Otherwise node2vec's second-order
    walk: standing at ``v`` having come from ``t``, the next node ``x`` is drawn
    with weight ``1/p`` if ``x = t`` (go back), ``1`` if ``x`` is a neighbour of
    ``t`` (stay close: BFS-like), ``1/q`` otherwise (move away: DFS-like).
    A walk that reaches a node without neighbours stays there.
    """
    ei = _in_range(edge_index, num_nodes)
    rng = np.random.default_rng(seed)
    nbrs = _neighbour_lists(ei, num_nodes)
    nbr_sets = [set(a.tolist()) for a in nbrs]
    walks = np.empty((num_nodes * walks_per_node, walk_length), dtype=np.int64)
    row = 0
    for _ in range(walks_per_node):
        for start in rng.permutation(num_nodes):
            walk = [int(start)]
            while len(walk) < walk_length:
                v = walk[-1]
                cand = nbrs[v]
                if len(cand) == 0:
                    walk.append(v)
                    continue
                if len(walk) == 1 or (p == 1.0 and q == 1.0):
                    walk.append(int(cand[rng.integers(len(cand))]))
                    continue
                t = walk[-2]
                w = np.array([1.0 / p if x == t else (1.0 if x in nbr_sets[t] else 1.0 / q) for x in cand])
                walk.append(int(cand[rng.choice(len(cand), p=w / w.sum())]))
            walks[row] = walk
            row += 1
    return walks


WALKS = Tensor(ndim=2)


@checked(walks=WALKS, window=COUNT)
def skipgram_pairs(walks, window: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(centre, context) pairs: every two nodes at most ``window`` steps apart on a walk (both orders)."""
    w = walks.long().cpu().numpy()
    centres, contexts = [], []
    for k in range(1, min(window, w.shape[1] - 1) + 1):
        centres += [w[:, :-k].ravel(), w[:, k:].ravel()]
        contexts += [w[:, k:].ravel(), w[:, :-k].ravel()]
    if not centres:
        raise ValueError("walks must have at least 2 steps to form pairs")
    return np.concatenate(centres), np.concatenate(contexts)


class SkipGram(nn.Module):
    """Skip-gram with negative sampling: centre vectors ``z`` (the embedding) and context vectors ``z'``."""

    @checked(num_nodes=COUNT, dim=COUNT)
    def __init__(self, num_nodes: int, dim: int):
        super().__init__()
        self.centre = nn.Embedding(num_nodes, dim)
        self.context = nn.Embedding(num_nodes, dim)
        nn.init.normal_(self.centre.weight, std=1.0 / dim)
        nn.init.zeros_(self.context.weight)

    def loss(self, centre: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Mean of −log σ(z_cᵀ z'_o) − Σ_k log σ(−z_cᵀ z'_{n_k}); centre, context ``(B,)``, negatives ``(B, K)``."""
        zc = self.centre(centre)                                   # (B, d)
        pos = (zc * self.context(context)).sum(-1)                 # (B,)
        neg = torch.einsum("bd,bkd->bk", zc, self.context(negatives))  # (B, K)
        return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()


@checked(walks=WALKS, num_nodes=COUNT, dim=COUNT, window=COUNT, num_negative=COUNT, epochs=COUNT, batch_size=COUNT,
         lr=POSITIVE, seed=SEED)
def train_skipgram(walks, num_nodes: int, dim: int = 16, window: int = 5, num_negative: int = 5,
                   epochs: int = 5, batch_size: int = 512, lr: float = 0.02, seed: int = 0) -> torch.Tensor:
    """Fit :class:`SkipGram` on the walks' pairs with Adam; negatives ~ unigram^{3/4}. Returns ``(num_nodes, dim)``."""
    c, o = skipgram_pairs.unchecked(walks, window)
    if max(c.max(), o.max()) >= num_nodes:
        raise ValueError(f"walks contain node {max(c.max(), o.max())} >= num_nodes={num_nodes}")
    g = torch.Generator().manual_seed(seed)
    with seeded(seed):
        model = SkipGram(num_nodes, dim)
    c, o = torch.as_tensor(c), torch.as_tensor(o)
    freq = torch.bincount(c, minlength=num_nodes).double() ** 0.75
    batches = minibatches(len(c), batch_size, g)

    def step_loss(step):
        idx = next(batches)
        neg = torch.multinomial(freq, len(idx) * num_negative, replacement=True, generator=g).view(-1, num_negative)
        return model.loss(c[idx], o[idx], neg)

    per_epoch = (len(c) + batch_size - 1) // batch_size
    train_steps(model, step_loss, torch.optim.Adam(model.parameters(), lr=lr), epochs * per_epoch, every=per_epoch)
    return model.centre.weight.detach().clone()


# ---------------------------------------------------------------- message passing
def _scatter(src: torch.Tensor, index: torch.Tensor, n: int, reduce: str) -> torch.Tensor:
    """out[i] = REDUCE_{e : index[e] = i} src[e]; rows with no entry are 0."""
    out = torch.zeros((n,) + src.shape[1:], dtype=src.dtype, device=src.device)
    idx = index.view(-1, *([1] * (src.dim() - 1))).expand_as(src)
    if reduce == "sum":
        return out.scatter_add(0, idx, src)
    return out.scatter_reduce(0, idx, src, reduce={"mean": "mean", "max": "amax"}[reduce], include_self=False)


class MessagePassing(nn.Module):
    """Base class: ``propagate`` = message on every edge j → i, aggregate at i, update.

    Subclasses override :meth:`message` and :meth:`update`; ``aggr`` is
    ``"sum"``, ``"mean"`` or ``"max"`` — all symmetric in their inputs, which is
    what makes the layer permutation-equivariant.
    """

    @checked(aggr=OneOf(("sum", "mean", "max")))
    def __init__(self, aggr: str = "sum"):
        super().__init__()
        self.aggr = aggr

    def message(self, x_j: torch.Tensor, x_i: torch.Tensor, **kwargs) -> torch.Tensor:
        """Message along each edge; ``x_j`` (source) and ``x_i`` (target) have shape ``(E, d)``."""
        return x_j

    def aggregate(self, messages: torch.Tensor, target: torch.Tensor, num_nodes: int) -> torch.Tensor:
        """Combine the messages arriving at each node: ``(E, d) → (n, d)``."""
        return _scatter(messages, target, num_nodes, self.aggr)

    def update(self, aggregated: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """New node state from the aggregate and the old state."""
        return aggregated

    def propagate(self, x: torch.Tensor, edge_index: torch.Tensor, **kwargs) -> torch.Tensor:
        source, target = edge_index
        messages = self.message(x[source], x[target], **kwargs)
        return self.update(self.aggregate(messages, target, x.shape[0]), x)

    @checked(x=FEATURES, edge_index=EDGE_INDEX)
    def forward(self, x, edge_index) -> torch.Tensor:
        """``x (n, in_dim)``, ``edge_index (2, E)`` → new node states ``(n, out_dim)``."""
        _check_width(x, self.in_dim)
        return self._forward(x, _in_range(edge_index, x.shape[0]).to(x.device))

    def _forward(self, x: torch.Tensor, ei: torch.Tensor) -> torch.Tensor:
        """The layer on checked inputs (what :class:`GNN` calls, layer after layer)."""
        raise NotImplementedError


def _check_width(x: torch.Tensor, in_dim: int) -> None:
    if x.shape[1] != in_dim:
        raise ValueError(f"x must have {in_dim} features (columns), got shape {tuple(x.shape)}")


def _add_self_loops(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    keep = edge_index[0] != edge_index[1]
    loops = torch.arange(n, device=edge_index.device).expand(2, n)
    return torch.cat([edge_index[:, keep], loops], dim=1)


class GCNConv(MessagePassing):
    """Graph convolution (Kipf & Welling): ``H' = D̃^{-1/2}(A + I)D̃^{-1/2} H W + b``.

    As messages: ``m_{j→i} = (W h_j) / √(d̃_i d̃_j)``, summed over ``N(i) ∪ {i}``;
    ``d̃`` counts the self-loop. ``lin.weight`` has shape ``(out_dim, in_dim)``.
    """

    @checked(in_dim=COUNT, out_dim=COUNT)
    def __init__(self, in_dim: int, out_dim: int, bias: bool = True):
        super().__init__(aggr="sum")
        self.in_dim, self.out_dim = in_dim, out_dim
        self.lin = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim)) if bias else None

    def message(self, x_j, x_i, norm):
        return norm[:, None] * x_j

    def _forward(self, x, ei) -> torch.Tensor:
        n = x.shape[0]
        ei = _add_self_loops(ei, n)
        deg = torch.bincount(ei[1], minlength=n).to(x.dtype)        # d̃_i, self-loop included
        norm = deg[ei[0]].rsqrt() * deg[ei[1]].rsqrt()              # 1/√(d̃_j d̃_i)
        out = self.propagate(self.lin(x), ei, norm=norm)
        return out if self.bias is None else out + self.bias


class SAGEConv(MessagePassing):
    """GraphSAGE with mean aggregator: ``h_i' = W_1 h_i + W_2 mean_{j ∈ N(i)} h_j + b``.

    Only weights, no graph-sized parameters: it applies unchanged to nodes and
    graphs never seen in training (inductive).
    """

    @checked(in_dim=COUNT, out_dim=COUNT)
    def __init__(self, in_dim: int, out_dim: int):
        super().__init__(aggr="mean")
        self.in_dim, self.out_dim = in_dim, out_dim
        self.lin_self = nn.Linear(in_dim, out_dim)
        self.lin_neigh = nn.Linear(in_dim, out_dim, bias=False)

    def update(self, aggregated, x):
        return self.lin_self(x) + self.lin_neigh(aggregated)

    def _forward(self, x, ei) -> torch.Tensor:
        return self.propagate(x, ei)


class GATConv(MessagePassing):
    """Graph attention, one head: ``h_i' = Σ_{j ∈ N(i) ∪ {i}} α_ij W h_j + b`` with

    ``e_ij = LeakyReLU_{0.2}(a_dstᵀ W h_i + a_srcᵀ W h_j)`` (= aᵀ[W h_i ‖ W h_j]),
    ``α_ij = exp(e_ij) / Σ_{k ∈ N(i) ∪ {i}} exp(e_ik)``.
    """

    @checked(in_dim=COUNT, out_dim=COUNT, negative_slope=NONNEGATIVE)
    def __init__(self, in_dim: int, out_dim: int, negative_slope: float = 0.2):
        super().__init__(aggr="sum")
        self.in_dim, self.out_dim, self.negative_slope = in_dim, out_dim, negative_slope
        self.lin = nn.Linear(in_dim, out_dim, bias=False)
        self.att_src = nn.Parameter(torch.empty(out_dim))
        self.att_dst = nn.Parameter(torch.empty(out_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        nn.init.normal_(self.att_src, std=out_dim ** -0.5)
        nn.init.normal_(self.att_dst, std=out_dim ** -0.5)
        self.last_attention = None

    def message(self, x_j, x_i, alpha):
        return alpha[:, None] * x_j

    def _forward(self, x, ei) -> torch.Tensor:
        n = x.shape[0]
        ei = _add_self_loops(ei, n)
        wh = self.lin(x)
        e = F.leaky_relu((wh @ self.att_dst)[ei[1]] + (wh @ self.att_src)[ei[0]], self.negative_slope)
        e = e - _scatter(e, ei[1], n, "max")[ei[1]]                 # softmax is shift-invariant: stabilise
        w = e.exp()
        alpha = w / _scatter(w, ei[1], n, "sum")[ei[1]]
        self.last_attention = (ei, alpha.detach())
        return self.propagate(wh, ei, alpha=alpha) + self.bias


class GGNNConv(MessagePassing):
    """Gated graph layer (Li et al.): ``m_i = Σ_{j ∈ N(i)} W h_j``, ``h_i' = GRUCell(m_i, h_i)``.

    The state keeps its size, so ``in_dim == out_dim`` (``out_dim`` may be omitted).
    """

    @checked(in_dim=COUNT, out_dim=Int(1, optional=True))
    def __init__(self, in_dim: int, out_dim: int | None = None):
        super().__init__(aggr="sum")
        self.in_dim = in_dim
        out_dim = in_dim if out_dim is None else out_dim
        if out_dim != in_dim:
            raise ValueError(f"out_dim must equal in_dim for a GGNN layer (the GRU keeps the state size), got {out_dim} != {in_dim}")
        self.out_dim = out_dim
        self.lin = nn.Linear(in_dim, in_dim, bias=False)
        self.gru = nn.GRUCell(in_dim, in_dim)

    def update(self, aggregated, x):
        return self.gru(aggregated, x)

    def _forward(self, x, ei) -> torch.Tensor:
        m = self.aggregate(self.lin(x)[ei[0]], ei[1], x.shape[0])
        return self.update(m, x)


_LAYERS = {"gcn": GCNConv, "sage": SAGEConv, "gat": GATConv, "ggnn": GGNNConv}


class GNN(nn.Module):
    """``num_layers`` message-passing layers of one ``kind`` with ReLU in between.

    ``in → hidden → … → hidden → out``. ``skip``: ``"none"``; ``"residual"``
    (``h^{k} = σ(layer(h^{k-1})) + h^{k-1}`` — the notes' Skipped-GCN); or
    ``"initial"`` (``h^{k} = (1−α) σ(layer(h^{k-1})) + α h^{1}``, GCNII-style
    initial residual) on the hidden layers. A GGNN stack first maps ``in → hidden`` with a linear layer.
    """

    @checked(in_dim=COUNT, hidden_dim=COUNT, out_dim=COUNT, num_layers=COUNT, kind=OneOf(tuple(_LAYERS)),
             skip=OneOf(("none", "residual", "initial")), alpha=PROBABILITY, dropout=Float(0.0, 1.0, hi_open=True))
    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2,
                 kind: str = "gcn", skip: str = "none", alpha: float = 0.2, dropout: float = 0.0):
        super().__init__()
        self.in_dim, self.num_layers, self.kind, self.skip = in_dim, num_layers, kind, skip
        self.alpha, self.dropout = alpha, dropout
        layer = _LAYERS[kind]
        if kind == "ggnn":
            self.inp = nn.Linear(in_dim, hidden_dim)
            self.layers = nn.ModuleList(layer(hidden_dim) for _ in range(num_layers))
            self.out = nn.Linear(hidden_dim, out_dim)
        else:
            dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
            self.inp, self.out = None, None
            self.layers = nn.ModuleList(layer(a, b) for a, b in zip(dims[:-1], dims[1:]))

    @checked(x=FEATURES, edge_index=EDGE_INDEX)
    def forward(self, x, edge_index, return_hidden: bool = False):
        """``x (n, in_dim) → logits (n, out_dim)``; with ``return_hidden`` also the list of hidden states."""
        _check_width(x, self.in_dim)
        return self._forward(x, _in_range(edge_index, x.shape[0]).to(x.device), return_hidden)

    def _forward(self, x, edge_index, return_hidden: bool = False):
        """The network on checked inputs (what :func:`train_node_classifier` calls at every step)."""
        hidden = []
        h = x if self.inp is None else torch.relu(self.inp(x))
        h0 = None
        last = len(self.layers) - 1 if self.out is None else len(self.layers)
        for k, layer in enumerate(self.layers):
            h = F.dropout(h, self.dropout, self.training)
            z = layer._forward(h, edge_index)
            if k == last:                       # output layer: no activation, no skip
                h = z
                break
            z = torch.relu(z) if self.kind != "ggnn" else z
            if self.skip == "residual" and z.shape == h.shape:
                z = z + h
            elif self.skip == "initial" and h0 is not None:
                z = (1 - self.alpha) * z + self.alpha * h0
            if h0 is None:
                h0 = z
            h = z
            hidden.append(h)
        if self.out is not None:
            h = self.out(h)
        return (h, hidden) if return_hidden else h


@checked(logits=Tensor(ndim=2), labels=PER_NODE, mask=Tensor(ndim=1, optional=True))
def accuracy(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Fraction of nodes (in ``mask``) whose arg-max logit is the label."""
    labels = _per_node("labels", labels, logits.shape[0]).to(logits.device)
    ok = logits.argmax(dim=1) == labels
    if mask is not None:
        ok = ok[_per_node("mask", mask, logits.shape[0]).bool().to(ok.device)]
    return float(ok.float().mean())


@checked(model=Instance(nn.Module), x=FEATURES, edge_index=EDGE_INDEX, labels=PER_NODE, train_mask=PER_NODE,
         epochs=COUNT, lr=POSITIVE, weight_decay=NONNEGATIVE, drop_edge=Float(0.0, 1.0, hi_open=True))
def train_node_classifier(model: nn.Module, x, edge_index, labels, train_mask, epochs: int = 200,
                          lr: float = 0.01, weight_decay: float = 5e-4, drop_edge: float = 0.0) -> list[float]:
    """Full-batch Adam on the cross-entropy of the labelled nodes (``train_mask``); returns the loss curve.

    ``drop_edge = p > 0``: DropEdge — every epoch trains on a fresh copy of the graph with each
    undirected edge removed with probability ``p`` (:func:`drop_edges`, torch's global random state);
    the model is later evaluated on the full graph.
    """
    ei = _in_range(edge_index, x.shape[0])
    labels = _per_node("labels", labels, x.shape[0]).long()
    train_mask = _per_node("train_mask", train_mask, x.shape[0]).bool()
    if not bool(train_mask.any()):
        raise ValueError("train_mask must select at least one node")
    if isinstance(model, GNN):                     # inputs checked once above, not at every step
        _check_width(x, model.in_dim)
        net, ei = model._forward, ei.to(x.device)
    else:
        net = model
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    graph = (lambda: ei) if drop_edge == 0 else (lambda: drop_edges.unchecked(ei, drop_edge))
    step_loss = lambda step: F.cross_entropy(net(x, graph())[train_mask], labels[train_mask])
    return train_steps(model, step_loss, opt, epochs, every=1)


# ---------------------------------------------------------------- over-smoothing
@checked(x=FEATURES, adj=ADJACENCY)
def dirichlet_energy(x, adj, normalized: bool = False) -> torch.Tensor:
    """``E(X) = ½ Σ_{i,j} A_ij ‖x_i − x_j‖² = tr(Xᵀ L X)`` with ``L = D − A``. x ``(n, d)``, adj ``(n, n)``.

    Zero exactly when ``X`` is constant on every connected component.
    ``normalized=True`` uses the graph GCN propagates on, ``Ã = A + I``, and
    degree-scaled rows: ``½ Σ Ã_ij ‖x_i/√d̃_i − x_j/√d̃_j‖² = tr(Xᵀ (I − Â) X)``,
    zero exactly when ``X ∝ D̃^{1/2} 1 cᵀ`` — the fixed direction of ``Â = D̃^{-1/2} Ã D̃^{-1/2}``.
    """
    a = adj.to(x)
    if a.shape[0] != x.shape[0]:
        raise ValueError(f"adj must be ({x.shape[0]}, {x.shape[0]}) to match x, got {tuple(a.shape)}")
    if normalized:
        a = a + torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
        x = x * a.sum(1).rsqrt()[:, None]
    sq = torch.cdist(x, x).pow(2)
    return 0.5 * (a * sq).sum()


@checked(x=FEATURES)
def mean_cosine_similarity(x) -> torch.Tensor:
    """Mean cosine similarity over all pairs ``i ≠ j`` of rows of ``x`` (→ 1 when embeddings collapse)."""
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"x must have at least 2 rows, got {n}")
    u = F.normalize(x, dim=1)
    s = u @ u.T
    return (s.sum() - s.diagonal().sum()) / (n * (n - 1))


# ---------------------------------------------------------------- graph augmentation (图增强)
@checked(edge_index=EDGE_INDEX, p=Float(0.0, 1.0, hi_open=True), generator=Instance(torch.Generator, optional=True))
def drop_edges(edge_index, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """DropEdge: remove each edge with probability ``p``; both directions of an undirected edge go together.

    ``edge_index (2, E)`` → ``(2, E')``, the kept columns in their original order. An edge
    ``{i, j}`` is one coin flip whether it is stored once or twice (as ``j → i`` and ``i → j``).
    """
    ei = edge_index
    if ei.shape[1] == 0 or p == 0:
        return ei
    lo, hi = torch.minimum(ei[0], ei[1]), torch.maximum(ei[0], ei[1])
    key = lo * (int(hi.max()) + 1) + hi                   # one key per undirected edge
    uniq, inverse = torch.unique(key, return_inverse=True)
    keep = torch.rand(len(uniq), generator=generator) >= p  # one coin per undirected edge
    return ei[:, keep.to(ei.device)[inverse]]


@checked(x=FEATURES, edge_index=EDGE_INDEX)
def add_virtual_node(x, edge_index) -> tuple[torch.Tensor, torch.Tensor]:
    """Add a virtual node (虚拟节点) joined to every node in both directions.

    ``x (n, d)``, ``edge_index (2, E)`` → ``x' (n+1, d)`` with a zero feature row for the new
    node ``n``, and ``edge_index' (2, E + 2n)``. Any two nodes are then at most two hops apart.
    """
    n = x.shape[0]
    ei = _in_range(edge_index, n).to(x.device)
    nodes = torch.arange(n, device=x.device)
    hub = torch.full_like(nodes, n)
    ei = torch.cat([ei, torch.stack([nodes, hub]), torch.stack([hub, nodes])], dim=1)
    return torch.cat([x, x.new_zeros(1, x.shape[1])]), ei


# ---------------------------------------------------------------- synthetic graphs
@checked(sizes=Sizes(), p_in=PROBABILITY, p_out=PROBABILITY, feature_dim=COUNT, noise=NONNEGATIVE, seed=SEED,
         feature_seed=SEED)
def sbm_graph(sizes=(40, 40, 40), p_in: float = 0.15, p_out: float = 0.02, feature_dim: int = 8,
              noise: float = 1.0, seed: int = 0, feature_seed: int = 0):
    """Stochastic block model with noisy class-mean features.

    Returns ``(x (n, feature_dim), edge_index (2, 2m), labels (n,))`` as tensors.
    ``x_i = μ_{y_i} + noise · ε``, with random unit class means ``μ_c`` fixed by
    ``feature_seed`` (so graphs drawn with different ``seed`` share them: the same
    "world", new nodes and edges). With ``noise ≈ 1`` features alone are a weak signal.
    """
    import networkx as nx

    sizes = list(sizes)
    k = len(sizes)
    probs = [[p_in if a == b else p_out for b in range(k)] for a in range(k)]
    g = nx.stochastic_block_model(sizes, probs, seed=seed)
    rng = np.random.default_rng([seed, 1])
    labels = np.repeat(np.arange(k), sizes)
    mu = np.random.default_rng([feature_seed, 2]).normal(size=(k, feature_dim))
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    x = mu[labels] + noise * rng.normal(size=(len(labels), feature_dim))
    edges = np.array(list(g.edges()), dtype=np.int64).reshape(-1, 2).T
    ei = np.concatenate([edges, edges[::-1]], axis=1)
    return (torch.tensor(x, dtype=torch.get_default_dtype()), torch.as_tensor(ei), torch.as_tensor(labels))


# ---------------------------------------------------------------- exercises
@checked(x=FEATURES, edge_index=EDGE_INDEX)
def mean_aggregation(x, edge_index) -> torch.Tensor:
    """One mean-aggregation step: ``out_i = mean_{j : (j → i)} x_j`` (0 for nodes with no in-edges). x ``(n, d)``."""
    ei = _in_range(edge_index, x.shape[0]).to(x.device)
    return _scatter(x[ei[0]], ei[1], x.shape[0], "mean")


def _exercise_graph(dtype=torch.float64):
    g = torch.Generator().manual_seed(3)
    a = (torch.rand(7, 7, generator=g) < 0.4).to(dtype)
    a = torch.triu(a, 1)
    a = a + a.T
    a[6, :] = 0
    a[:, 6] = 0
    a[5, 6] = a[6, 5] = 1.0                        # a pendant node
    x = torch.randn(7, 3, generator=g, dtype=dtype)
    return a, x


def _wrong_norm_no_loops(adj):
    return normalized_adjacency(adj, self_loops=False)


def _wrong_norm_row(adj):
    a = torch.as_tensor(adj) + torch.eye(len(adj), dtype=torch.as_tensor(adj).dtype)
    return a / a.sum(1, keepdim=True)


@exercise("gnn.normalized_adjacency", reference=normalized_adjacency,
          wrong=[_wrong_norm_no_loops, _wrong_norm_row],
          hint="Add the identity first, then D̃ = diag of the row sums of A + I; return D̃^{-1/2} (A + I) D̃^{-1/2}.")
def _check_normalized_adjacency(func):
    a, _ = _exercise_graph()
    got = func(a.clone())
    expect_close(got, normalized_adjacency(a), "normalised adjacency of a 7-node graph", atol=1e-8)
    path = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    expect_close(func(path), torch.full((2, 2), 0.5, dtype=torch.float64), "normalised adjacency of one edge")


def _wrong_mean_sum(x, edge_index):
    x = torch.as_tensor(x)
    ei = torch.as_tensor(edge_index)
    return _scatter(x[ei[0]], ei[1], x.shape[0], "sum")


def _wrong_mean_direction(x, edge_index):
    return mean_aggregation(x, torch.as_tensor(edge_index).flip(0))


@exercise("gnn.mean_aggregation", reference=mean_aggregation, wrong=[_wrong_mean_sum, _wrong_mean_direction],
          hint="For every edge (j, i) = (edge_index[0, e], edge_index[1, e]) add x[j] to node i, then divide by i's in-degree.")
def _check_mean_aggregation(func):
    a, x = _exercise_graph()
    ei = torch.stack(torch.nonzero(a, as_tuple=True)[::-1])
    expect_close(func(x.clone(), ei.clone()), mean_aggregation(x, ei), "mean aggregation on a 7-node graph", atol=1e-8)
    directed = torch.tensor([[0, 0, 1], [1, 2, 2]])
    x3 = torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64)
    want = torch.tensor([[0.0], [1.0], [1.5]], dtype=torch.float64)
    expect_close(func(x3, directed), want, "directed 3-node graph (edges 0→1, 0→2, 1→2; node 0 has no in-edges)")


def _wrong_energy_no_half(x, adj):
    return 2 * dirichlet_energy(x, adj)


def _wrong_energy_distance(x, adj):
    x = torch.as_tensor(x)
    return 0.5 * (torch.as_tensor(adj) * torch.cdist(x, x)).sum()


@exercise("gnn.dirichlet_energy", reference=dirichlet_energy, wrong=[_wrong_energy_no_half, _wrong_energy_distance],
          hint="E(X) = ½ Σ_i Σ_j A_ij ‖x_i − x_j‖² — squared distances, each undirected edge counted once overall.")
def _check_dirichlet_energy(func):
    a, x = _exercise_graph()
    expect_close(func(x.clone(), a.clone()), dirichlet_energy(x, a), "Dirichlet energy on a 7-node graph", atol=1e-8)
    one = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    xs = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    expect_close(func(xs, one), 25.0, "one edge between (0,0) and (3,4)")
    if abs(float(func(torch.ones(7, 3, dtype=torch.float64), a))) > 1e-10:
        raise CheckFailed("a constant signal must have zero energy")
