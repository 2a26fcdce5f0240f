import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import nnbook
import nnbook.data
from nnbook import gnn




def _random_graph(n, p, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.triu((torch.rand(n, n, generator=g) < p).double(), 1)
    a = a + a.T
    ei = torch.stack(torch.nonzero(a, as_tuple=True)[::-1])
    x = torch.randn(n, 4, generator=g, dtype=torch.float64)
    return a, ei, x


def test_normalized_adjacency_formula():
    a, _, _ = _random_graph(9, 0.4, 0)
    at = a + torch.eye(9, dtype=a.dtype)
    d = torch.diag(at.sum(1) ** -0.5)
    torch.testing.assert_close(gnn.normalized_adjacency(a), d @ at @ d)
    # eigenvalues of D^-1/2 (A+I) D^-1/2 lie in (-1, 1]
    ev = torch.linalg.eigvalsh(gnn.normalized_adjacency(a))
    assert ev.max() <= 1 + 1e-9 and ev.min() > -1


def test_gcn_matches_dense_formula_and_pyg():
    import torch_geometric.nn as pyg  # a pinned dev dependency: a missing install must fail, not skip
    torch.manual_seed(0)
    a, ei, x = _random_graph(12, 0.3, 1)
    x, a = x.float(), a.float()
    conv = gnn.GCNConv(4, 3)
    with torch.no_grad():
        conv.bias.normal_()
    dense = gnn.normalized_adjacency(a) @ x @ conv.lin.weight.T + conv.bias
    torch.testing.assert_close(conv(x, ei), dense, atol=1e-5, rtol=1e-5)
    ref = pyg.GCNConv(4, 3)
    with torch.no_grad():
        ref.lin.weight.copy_(conv.lin.weight)
        ref.bias.copy_(conv.bias)
    torch.testing.assert_close(conv(x, ei), ref(x, ei), atol=1e-5, rtol=1e-5)


def test_sage_and_gat_match_pyg():
    import torch_geometric.nn as pyg  # a pinned dev dependency: a missing install must fail, not skip
    torch.manual_seed(0)
    _, ei, x = _random_graph(10, 0.35, 2)
    x = x.float()
    sage, ref = gnn.SAGEConv(4, 3), pyg.SAGEConv(4, 3, aggr="mean")
    with torch.no_grad():
        ref.lin_l.weight.copy_(sage.lin_neigh.weight)
        ref.lin_l.bias.copy_(sage.lin_self.bias)
        ref.lin_r.weight.copy_(sage.lin_self.weight)
    torch.testing.assert_close(sage(x, ei), ref(x, ei), atol=1e-5, rtol=1e-5)
    gat, refg = gnn.GATConv(4, 3), pyg.GATConv(4, 3, heads=1)
    with torch.no_grad():
        refg.lin.weight.copy_(gat.lin.weight)
        refg.att_src.copy_(gat.att_src.view(1, 1, 3))
        refg.att_dst.copy_(gat.att_dst.view(1, 1, 3))
        refg.bias.copy_(gat.bias)
    torch.testing.assert_close(gat(x, ei), refg(x, ei), atol=1e-5, rtol=1e-5)
    ei_sl, alpha = gat.last_attention
    sums = torch.zeros(10).index_add_(0, ei_sl[1], alpha)
    torch.testing.assert_close(sums, torch.ones(10))


def test_ggnn_is_gru_of_summed_messages():
    torch.manual_seed(0)
    a, ei, x = _random_graph(8, 0.4, 3)
    x, a = x.float(), a.float()
    layer = gnn.GGNNConv(4)
    m = a @ layer.lin(x)
    torch.testing.assert_close(layer(x, ei), layer.gru(m, x), atol=1e-6, rtol=1e-5)


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(["gcn", "sage", "gat", "ggnn"]), n=st.integers(3, 9), seed=st.integers(0, 10_000))
def test_permutation_equivariance(kind, n, seed):
    torch.manual_seed(seed)
    _, ei, x = _random_graph(n, 0.5, seed)
    x = x.float()
    layer = {"gcn": gnn.GCNConv(4, 3), "sage": gnn.SAGEConv(4, 3), "gat": gnn.GATConv(4, 3), "ggnn": gnn.GGNNConv(4)}[kind]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    inv = torch.argsort(perm)                    # node v is renamed inv[v]; new node k is old perm[k]
    out = layer(x, ei)
    out_p = layer(x[perm], inv[ei])
    torch.testing.assert_close(out_p, out[perm], atol=1e-5, rtol=1e-5)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 8), seed=st.integers(0, 1000))
def test_dirichlet_energy_is_trace_of_laplacian(n, seed):
    a, _, x = _random_graph(n, 0.5, seed)
    lap = torch.diag(a.sum(1)) - a
    torch.testing.assert_close(gnn.dirichlet_energy(x, a), torch.trace(x.T @ lap @ x))
    assert abs(float(gnn.dirichlet_energy(torch.ones(n, 3), a))) < 1e-9


def test_mean_aggregation_and_cosine():
    x = torch.tensor([[1.0], [2.0], [4.0]])
    ei = torch.tensor([[0, 0, 1], [1, 2, 2]])
    torch.testing.assert_close(gnn.mean_aggregation(x, ei), torch.tensor([[0.0], [1.0], [1.5]]))
    assert float(gnn.mean_cosine_similarity(torch.ones(5, 3))) == pytest.approx(1.0)
    e = torch.eye(4)
    assert float(gnn.mean_cosine_similarity(e)) == pytest.approx(0.0)


def test_random_walks_follow_edges():
    kc = nnbook.data.karate_club()
    for p, q in [(1.0, 1.0), (0.5, 2.0)]:
        w = gnn.random_walks(kc.edge_index, 34, walk_length=8, walks_per_node=2, p=p, q=q, seed=0)
        assert w.shape == (68, 8)
        assert np.all(kc.adjacency[w[:, 1:], w[:, :-1]] == 1)
        assert sorted(w[:34, 0]) == list(range(34))


def test_node2vec_small_p_returns_often():
    kc = nnbook.data.karate_club()
    back = []
    for p in (0.05, 20.0):
        w = gnn.random_walks(kc.edge_index, 34, walk_length=10, walks_per_node=3, p=p, q=1.0, seed=1)
        back.append(np.mean(w[:, 2:] == w[:, :-2]))
    assert back[0] > 0.6 > 0.2 > back[1]


def test_skipgram_pairs_and_training():
    walks = np.array([[0, 1, 2, 3]])
    c, o = gnn.skipgram_pairs(walks, window=1)
    assert sorted(zip(c, o)) == sorted([(0, 1), (1, 2), (2, 3), (1, 0), (2, 1), (3, 2)])
    kc = nnbook.data.karate_club()
    w = gnn.random_walks(kc.edge_index, 34, walk_length=10, walks_per_node=5, seed=0)
    z = gnn.train_skipgram(w, 34, dim=8, epochs=3, seed=0)
    assert z.shape == (34, 8) and torch.isfinite(z).all()
    # neighbours end up more similar than non-neighbours
    u = torch.nn.functional.normalize(z, dim=1)
    s = (u @ u.T).numpy()
    a = kc.adjacency.astype(bool)
    off = ~a & ~np.eye(34, dtype=bool)
    assert s[a].mean() > s[off].mean() + 0.1


def test_training_leaves_the_global_rng_alone_and_repeats_with_the_seed():
    kc = nnbook.data.karate_club()
    w = gnn.random_walks(kc.edge_index, 34, walk_length=6, walks_per_node=2, seed=0)
    runs = []
    for global_seed in (1, 2):                            # what the caller's stream holds must not matter
        torch.manual_seed(global_seed)
        state = torch.get_rng_state()
        runs.append(gnn.train_skipgram(w, 34, dim=4, epochs=2, batch_size=64, seed=3))
        assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], gnn.train_skipgram(w, 34, dim=4, epochs=2, batch_size=64, seed=4))
    # the node classifier: the caller's model, full-batch Adam written out as the reference
    x, y, mask = torch.eye(34), torch.as_tensor(kc.labels), torch.zeros(34, dtype=torch.bool)
    mask[[0, 1, 32, 33]] = True
    torch.manual_seed(0)
    init = gnn.GNN(34, 8, 2, kind="gat").state_dict()
    ref = gnn.GNN(34, 8, 2, kind="gat")
    ref.load_state_dict(init)
    opt, want = torch.optim.Adam(ref.parameters(), lr=0.01, weight_decay=5e-4), []
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(ref(x, kc.edge_index)[mask], y[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        want.append(loss.item())
    model = gnn.GNN(34, 8, 2, kind="gat")
    model.load_state_dict(init)
    state = torch.get_rng_state()
    assert gnn.train_node_classifier(model, x, kc.edge_index, y, mask, epochs=5) == want
    assert torch.equal(torch.get_rng_state(), state) and not model.training
    for a, b in zip(model.parameters(), ref.parameters()):
        assert torch.equal(a, b)


def test_gcn_karate_one_label_per_class():
    nnbook.seed_everything(0)
    kc = nnbook.data.karate_club()
    x = torch.eye(34)
    y = torch.as_tensor(kc.labels)
    mask = torch.zeros(34, dtype=torch.bool)
    mask[[0, 33]] = True
    model = gnn.GNN(34, 16, 2, num_layers=2, kind="gcn")
    losses = gnn.train_node_classifier(model, x, kc.edge_index, y, mask, epochs=100)
    assert losses[-1] < losses[0]
    acc = gnn.accuracy(model(x, kc.edge_index), y, ~mask)
    assert acc > 0.85


def test_gnn_shapes_and_skips():
    _, ei, x = _random_graph(10, 0.4, 0)
    x = x.float()
    for kind in ["gcn", "sage", "gat", "ggnn"]:
        for skip in ["none", "residual", "initial"]:
            m = gnn.GNN(4, 6, 3, num_layers=4, kind=kind, skip=skip)
            out, hidden = m(x, ei, return_hidden=True)
            assert out.shape == (10, 3)
            assert all(h.shape == (10, 6) for h in hidden)


def test_sbm_graph():
    x, ei, y = gnn.sbm_graph((10, 12), p_in=0.5, p_out=0.05, feature_dim=3, seed=0)
    assert x.shape == (22, 3) and y.shape == (22,) and ei.shape[0] == 2
    a = gnn.edge_index_to_adjacency(ei, 22)
    torch.testing.assert_close(a, a.T)
    same = (y[:, None] == y[None, :]).float()
    assert (a * same).sum() > (a * (1 - same)).sum()


def test_bad_input():
    x = torch.randn(4, 3)
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="edge_index"):
        gnn.GCNConv(3, 2)(x, torch.tensor([[0, 1], [1, 4]]))
    with pytest.raises(ValueError, match="edge_index"):
        gnn.GCNConv(3, 2)(x, torch.tensor([[0, -1], [1, 2]]))
    with pytest.raises(ValueError, match="edge_index"):
        gnn.SAGEConv(3, 2)(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="edge_index"):
        gnn.check_edge_index(torch.zeros(3, 2, dtype=torch.long), 4)
    with pytest.raises(TypeError, match="edge_index"):
        gnn.check_edge_index(torch.zeros(2, 2), 4)
    with pytest.raises(ValueError, match="x"):
        gnn.GATConv(3, 2)(torch.randn(4), ei)
    with pytest.raises(ValueError, match="x"):
        gnn.GCNConv(5, 2)(x, ei)
    with pytest.raises(ValueError, match="adj"):
        gnn.normalized_adjacency(torch.ones(3, 4))
    with pytest.raises(ValueError, match="adj"):
        gnn.dirichlet_energy(x, torch.ones(3, 3))
    with pytest.raises(ValueError, match="kind"):
        gnn.GNN(3, 4, 2, kind="cnn")
    with pytest.raises(ValueError, match="out_dim"):
        gnn.GGNNConv(3, 4)
    with pytest.raises(ValueError, match="p"):
        gnn.random_walks(ei, 4, p=0.0)
    with pytest.raises(ValueError, match="train_mask"):
        gnn.train_node_classifier(gnn.GNN(3, 4, 2), x, ei, torch.zeros(4), torch.zeros(4, dtype=torch.bool))


def test_normalized_dirichlet_energy_is_laplacian_form():
    a, _, x = _random_graph(7, 0.5, 4)
    lap = torch.eye(7, dtype=a.dtype) - gnn.normalized_adjacency(a)
    torch.testing.assert_close(gnn.dirichlet_energy(x, a, normalized=True), torch.trace(x.T @ lap @ x))
    fixed = (a.sum(1) + 1).sqrt()[:, None] * torch.ones(1, 3, dtype=a.dtype)
    assert abs(float(gnn.dirichlet_energy(fixed, a, normalized=True))) < 1e-9


def test_sbm_graphs_share_class_means():
    xa, _, ya = gnn.sbm_graph((200, 200), feature_dim=4, noise=0.1, seed=0)
    xb, _, yb = gnn.sbm_graph((200, 200), feature_dim=4, noise=0.1, seed=1)
    torch.testing.assert_close(xa[ya == 0].mean(0), xb[yb == 0].mean(0), atol=0.05, rtol=0)


# ---------------------------------------------------------------- graph augmentation
def test_drop_edges_keeps_both_directions_and_drops_about_p():
    a, ei, _ = _random_graph(60, 0.3, 3)
    kept = gnn.drop_edges(ei, 0.4, generator=torch.Generator().manual_seed(0))
    ak = gnn.edge_index_to_adjacency(kept, 60)
    torch.testing.assert_close(ak, ak.T)                      # an undirected edge goes as a whole
    assert bool((ak <= a.float()).all())                      # only existing edges survive
    frac = kept.shape[1] / ei.shape[1]
    m = ei.shape[1] // 2
    assert abs(frac - 0.6) < 4 * (0.24 / m) ** 0.5            # binomial: 4 standard deviations
    assert torch.equal(gnn.drop_edges(ei, 0.0), ei)


def test_drop_edges_rejects_bad_p():
    _, ei, _ = _random_graph(5, 0.5, 0)
    with pytest.raises(ValueError, match="p"):
        gnn.drop_edges(ei, 1.0)
    with pytest.raises(ValueError, match="p"):
        gnn.drop_edges(ei, -0.1)


def test_add_virtual_node_joins_every_node():
    a, ei, x = _random_graph(7, 0.3, 2)
    xv, eiv = gnn.add_virtual_node(x, ei)
    assert xv.shape == (8, 4) and torch.equal(xv[:7], x) and bool((xv[7] == 0).all())
    av = gnn.edge_index_to_adjacency(eiv, 8)
    torch.testing.assert_close(av[:7, :7], a.float())
    assert bool((av[7, :7] == 1).all() and (av[:7, 7] == 1).all()) and av[7, 7] == 0
    with pytest.raises(ValueError, match="edge_index"):
        gnn.add_virtual_node(x, torch.tensor([[0], [9]]))


def test_train_with_drop_edge_is_seeded_and_learns():
    x, ei, y = gnn.sbm_graph((15, 15), p_in=0.4, p_out=0.02, seed=0)
    mask = torch.ones(len(y), dtype=torch.bool)
    runs = []
    for _ in range(2):
        nnbook.seed_everything(0)
        model = gnn.GNN(8, 8, 2, kind="gcn")
        runs.append(gnn.train_node_classifier(model, x, ei, y, mask, epochs=60, drop_edge=0.3))
    assert runs[0] == runs[1] and runs[0][-1] < runs[0][0]
    with pytest.raises(ValueError, match="drop_edge"):
        gnn.train_node_classifier(model, x, ei, y, mask, epochs=2, drop_edge=1.5)
