"""Cross-modal hashing: the two-view digits, CCA-ITQ and CMDVH (losses, input, learning)."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skdml.datasets import make_digits_two_views
from skdml.hashing.cmdvh import (
    CrossModalDeepVariationalHashing,
    MaxMarginCodeLoss,
    VariationalCodeLoss,
)
from skdml.hashing.cross_modal import CCAITQ
from skdml.metrics_hashing import hamming_map


@pytest.fixture(scope="module")
def two_views():
    X_image, X_tags, y = make_digits_two_views(random_state=0)
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(y))
    train, test = idx[:600], idx[600:750]
    return ([X_image[train], X_tags[train]], y[train],
            [X_image[test], X_tags[test]], y[test])


def small_cmdvh(**params):
    defaults = dict(n_bits=8, hidden_sizes=(32,), coder_hidden_sizes=(32,), latent_dim=8,
                    max_epochs=4, random_state=0)
    return CrossModalDeepVariationalHashing(**{**defaults, **params})


@pytest.fixture(scope="module")
def fitted_cmdvh(two_views):
    views, y, _, _ = two_views
    return small_cmdvh().fit(views, y)


def cross_map(est, views_d, yd, views_q, yq):
    """(image -> tags, tags -> image) mAP of a fitted cross-modal hasher."""
    return tuple(
        hamming_map(est.transform_view(views_q[q], view=q),
                    est.transform_view(views_d[1 - q], view=1 - q), yq, yd)
        for q in (0, 1)
    )


# --- the data ------------------------------------------------------------------------------

def test_two_views_shapes_and_seed():
    X_image, X_tags, y = make_digits_two_views(random_state=1)
    assert X_image.shape == (1797, 64) and X_tags.shape == (1797, 78) and y.shape == (1797,)
    assert set(np.unique(X_tags)) == {0.0, 1.0}
    again = make_digits_two_views(random_state=1)[1]
    np.testing.assert_array_equal(X_tags, again)
    assert not np.array_equal(X_tags, make_digits_two_views(random_state=2)[1])


def test_two_views_tags_are_noisy_not_the_label():
    _, X_tags, y = make_digits_two_views(tag_rate=0.4, noise=0.05, random_state=0)
    own = X_tags[:, :30].reshape(-1, 10, 3)[np.arange(len(y)), y]
    # some samples carry none of their class tags, others carry tags of another class
    assert 0.05 < np.mean(own.sum(axis=1) == 0) < 0.5
    others = X_tags[:, :30].sum(axis=1) - own.sum(axis=1)
    assert np.mean(others > 0) > 0.2
    # no noise and every class tag: the class tags are the label
    _, clean, y = make_digits_two_views(tag_rate=1.0, noise=0.0, random_state=0)
    np.testing.assert_array_equal(clean[:, :30].reshape(-1, 10, 3).argmax(axis=1)[:, 0], y)


@pytest.mark.parametrize("params, match", [
    ({"tag_rate": 1.5}, "tag_rate"), ({"tag_rate": -0.1}, "tag_rate"),
    ({"noise": 0.6}, "noise"), ({"noise": "a"}, "noise"),
])
def test_two_views_bad_params(params, match):
    with pytest.raises(ValueError, match=match):
        make_digits_two_views(**params)


# --- the losses against a hand computation -------------------------------------------------

def numpy_slack(B, M, labels):
    signs = -np.ones((len(B), len(M)))
    signs[np.arange(len(B)), labels] = 1.0
    return np.maximum(0.0, 1.0 - signs * (B @ M.T)).max(axis=1)


def test_max_margin_loss_terms_equal_hand_computation():
    torch.manual_seed(0)
    H = torch.tanh(torch.randn(12, 6, dtype=torch.float64))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    loss = MaxMarginCodeLoss(3, 6, quantization=0.3, margin_penalty=0.05).double()
    B = loss.codes(H, labels).numpy()
    assert set(np.unique(B)) <= {-1.0, 1.0}
    Hn, M, yn = H.numpy(), loss.weight.detach().numpy(), labels.numpy()
    expected = (np.mean(numpy_slack(B, M, yn) + 0.3 * ((B - Hn) ** 2).sum(1))
                + 0.05 * (M ** 2).sum())
    assert float(loss(H, labels).detach()) == pytest.approx(expected, rel=1e-10)


def test_max_margin_b_step_is_a_local_minimum_below_sign():
    torch.manual_seed(1)
    H = torch.tanh(torch.randn(20, 5, dtype=torch.float64))
    labels = torch.arange(20) % 4
    loss = MaxMarginCodeLoss(4, 5, quantization=0.05).double()
    with torch.no_grad():
        loss.weight.mul_(3.0)
    B = loss.codes(H, labels).numpy()
    Hn, M, yn = H.numpy(), loss.weight.detach().numpy(), labels.numpy()

    def objective(codes):
        return numpy_slack(codes, M, yn) + 0.05 * ((codes - Hn) ** 2).sum(1)

    assert np.all(objective(B) <= objective(np.where(Hn >= 0, 1.0, -1.0)) + 1e-12)
    assert np.any(B != np.where(Hn >= 0, 1.0, -1.0))  # the margin moved some bits
    for k in range(5):  # no single flip lowers any sample's objective
        flipped = B.copy()
        flipped[:, k] *= -1
        assert np.all(objective(flipped) >= objective(B) - 1e-12)
    # a heavy quantization weight keeps the signs of the network
    heavy = MaxMarginCodeLoss(4, 5, quantization=1e3).double()
    np.testing.assert_array_equal(heavy.codes(H, labels).numpy(), np.where(Hn >= 0, 1.0, -1.0))


def test_max_margin_loss_gradients_reach_network_and_classifier():
    H = torch.tanh(torch.randn(8, 4, dtype=torch.float64)).requires_grad_()
    labels = torch.tensor([0, 1] * 4)
    loss = MaxMarginCodeLoss(2, 4, quantization=0.5).double()
    loss(H, labels).backward()
    assert H.grad.abs().sum() > 0 and loss.weight.grad.abs().sum() > 0


def test_variational_loss_terms_equal_hand_computation():
    rng = np.random.RandomState(0)
    n, K, J = 7, 5, 3
    z, mu, logvar = rng.randn(n, K), rng.randn(n, J), 0.5 * rng.randn(n, J)
    codes = np.where(rng.randn(n, K) >= 0, 1.0, -1.0)
    nll = np.log1p(np.exp(-codes * z)).sum(1)
    kl = -0.5 * (1 + logvar - mu ** 2 - np.exp(logvar)).sum(1)
    outputs = torch.as_tensor(np.hstack([z, mu, logvar]))
    for alpha in (0.0, 0.7):
        value = float(VariationalCodeLoss(alpha=alpha)(outputs, torch.as_tensor(codes)))
        assert value == pytest.approx(np.mean(nll + alpha * kl), rel=1e-10)
    # the KL term is zero at the prior, positive elsewhere
    prior = torch.as_tensor(np.hstack([z, np.zeros((n, J)), np.zeros((n, J))]))
    assert float(VariationalCodeLoss(alpha=1.0)(prior, torch.as_tensor(codes))) == \
        pytest.approx(np.mean(nll), rel=1e-10)


def test_variational_loss_bad_shapes():
    loss = VariationalCodeLoss()
    with pytest.raises(ValueError, match="codes of shape"):
        loss(torch.zeros(4, 9), torch.zeros(4))  # codes must be 2-D
    with pytest.raises(ValueError, match="K \\+ 2 J"):
        loss(torch.zeros(4, 8), torch.zeros(4, 5))  # 3 columns left: not mean + log-var


# --- input: the two modalities -------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: CCAITQ(8, random_state=0), small_cmdvh])
def test_modalities_with_different_numbers_of_samples(make, two_views):
    views, y, _, _ = two_views
    est = make()
    with pytest.raises(ValueError, match="different numbers of samples \\[600, 599\\]"):
        est.fit([views[0], views[1][:-1]], y)
    fitted = make().fit(views, y)
    state = {k: v for k, v in vars(fitted).items()}
    with pytest.raises(ValueError, match="different numbers of samples"):
        fitted.fit([views[0][:10], views[1][:11]], y[:10])
    assert set(vars(fitted)) == set(state)
    assert all(vars(fitted)[k] is v for k, v in state.items())
    with pytest.raises(ValueError, match="different numbers of samples"):
        fitted.transform([views[0][:10], views[1][:11]])


@pytest.mark.parametrize("make", [lambda: CCAITQ(8, random_state=0), small_cmdvh])
def test_wrong_widths(make, two_views):
    views, y, _, _ = two_views
    est = make().fit(views, y)
    assert est.view_widths_ == (64, 78)
    with pytest.raises(ValueError, match="modality 1 has 78 features .* got X with 64"):
        est.transform_view(views[0], view=1)
    with pytest.raises(ValueError, match="view must be the index of a modality"):
        est.transform_view(views[0], view=2)
    with pytest.raises(ValueError, match="view must be the index of a modality"):
        est.transform_view(views[0], view=True)
    with pytest.raises(ValueError, match=r"widths \(64, 78\), got a list of (views of )?"
                                         r"widths \(64, 70\)"):
        est.transform([views[0], views[1][:, :70]])
    with pytest.raises(ValueError, match="features"):
        est.transform(np.hstack(views)[:, :100])


@pytest.mark.parametrize("make", [CCAITQ, CrossModalDeepVariationalHashing])
def test_n_bits_not_positive(make, two_views):
    views, y, _, _ = two_views
    with pytest.raises(ValueError, match="n_bits"):
        make(n_bits=0).fit(views, y)


def test_ccaitq_default_bits(two_views):
    views, _, _, _ = two_views
    assert CCAITQ().fit(views).n_bits_ == 32
    assert CCAITQ().fit([views[0][:, :20], views[1]]).n_bits_ == 20


def test_ccaitq_limits(two_views):
    views, y, _, _ = two_views
    with pytest.raises(ValueError, match="n_bits=65 .* n_bits must be <= 64"):
        CCAITQ(65).fit(views)
    X3 = np.hstack(views + [views[0]])
    with pytest.raises(ValueError, match="relates two modalities; views gives 3"):
        CCAITQ(8, views=(64, 78, 64)).fit(X3)


def test_stacked_and_list_forms_agree(two_views, fitted_cmdvh):
    views, y, views_q, _ = two_views
    stacked = np.hstack(views)
    a = CCAITQ(16, random_state=0).fit(views)
    b = CCAITQ(16, views=(64, 78), random_state=0).fit(stacked)
    np.testing.assert_array_equal(a.transform(views_q), b.transform(np.hstack(views_q)))
    np.testing.assert_array_equal(a.transform_view(views_q[1], 1),
                                  b.transform_view(views_q[1], 1))
    np.testing.assert_array_equal(fitted_cmdvh.transform(views_q),
                                  fitted_cmdvh.transform(np.hstack(views_q)))


def test_codes_are_bool_and_packed(two_views, fitted_cmdvh):
    views, y, views_q, _ = two_views
    for est in (CCAITQ(12, random_state=0).fit(views), fitted_cmdvh):
        n_bits = est.n_bits_
        for codes in (est.transform(views_q), est.transform_view(views_q[0], 0),
                      est.transform_view(views_q[1], 1)):
            assert codes.dtype == bool and codes.shape == (150, n_bits)
        packed = est.transform_view_packed(views_q[1], 1)
        assert packed.dtype == np.uint8
        np.testing.assert_array_equal(
            np.unpackbits(packed, axis=1)[:, :n_bits], est.transform_view(views_q[1], 1))


# --- learning --------------------------------------------------------------------------------

def test_ccaitq_beats_random_projections(two_views):
    views, y, views_q, yq = two_views
    cca = CCAITQ(16, random_state=0).fit(views)
    ours = cross_map(cca, views, y, views_q, yq)
    # the same pipeline with random directions instead of the canonical ones
    rng = np.random.RandomState(0)
    rand = clone(cca).fit(views)
    rand.projections_ = tuple(rng.standard_normal(W.shape) for W in rand.projections_)
    chance = cross_map(rand, views, y, views_q, yq)
    assert all(o > c + 0.1 for o, c in zip(ours, chance)), (ours, chance)


def test_cmdvh_beats_ccaitq_both_directions(two_views):
    views, y, views_q, yq = two_views
    cmdvh = small_cmdvh(n_bits=16, hidden_sizes=(64,), coder_hidden_sizes=(64,),
                        max_epochs=10).fit(views, y)
    cca = CCAITQ(16, random_state=0).fit(views)
    deep, classical = cross_map(cmdvh, views, y, views_q, yq), cross_map(cca, views, y,
                                                                        views_q, yq)
    assert all(d > c for d, c in zip(deep, classical)), (deep, classical)
    # the variational networks reproduce the fused codes of the training samples
    fused = cmdvh.transform(views)
    for view in (0, 1):
        assert np.mean(cmdvh.transform_view(views[view], view) == fused) > 0.8


def test_determinism(two_views):
    views, y, views_q, _ = two_views
    for make in (lambda: CCAITQ(8, random_state=3), lambda: small_cmdvh(random_state=3)):
        a, b = make().fit(views, y), make().fit(views, y)
        for view in (0, 1):
            np.testing.assert_array_equal(a.transform_view(views_q[view], view),
                                          b.transform_view(views_q[view], view))
        np.testing.assert_array_equal(a.transform(views_q), b.transform(views_q))


def test_clone_pickle_pipeline(two_views, fitted_cmdvh):
    views, y, views_q, _ = two_views
    for est in (CCAITQ(8, random_state=0).fit(views), fitted_cmdvh):
        cloned = clone(est)
        for name in ("n_bits", "views", "random_state"):
            assert cloned.get_params()[name] == est.get_params()[name]
        assert not hasattr(cloned, "view_widths_")
        again = pickle.loads(pickle.dumps(est))
        for view in (0, 1):
            np.testing.assert_array_equal(again.transform_view(views_q[view], view),
                                          est.transform_view(views_q[view], view))
    stacked = np.hstack(views)
    for est in (CCAITQ(8, views=(64, 78), random_state=0),
                small_cmdvh(views=(64, 78), max_epochs=2)):
        pipe = make_pipeline(est).fit(stacked, y)
        assert pipe.transform(np.hstack(views_q)).shape == (150, 8)


def test_cmdvh_partial_fit_trains_both_stages(two_views):
    views, y, _, _ = two_views
    est = small_cmdvh(max_epochs=2).partial_fit(views, y)  # the first call fits
    lengths = [len(c.history_) for c in est.coders_]
    assert len(est.history_) == 2 and lengths == [2, 2]
    est.partial_fit(views, y)
    assert len(est.history_) == 4 and [len(c.history_) for c in est.coders_] == [4, 4]


def test_classical_imports_without_torch():
    code = ("import sys; import skdml.hashing.cross_modal, skdml.datasets; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cmdvh_docstring_states_its_own_defaults():
    doc = CrossModalDeepVariationalHashing.__doc__
    params = CrossModalDeepVariationalHashing().get_params()
    assert params["lr"] == 1e-2 and "lr : float, default=1e-2" in doc
    assert f"max_epochs : int, default={params['max_epochs']}" in doc
    assert "{common}" not in doc
