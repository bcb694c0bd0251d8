"""DMDH (discrepancy minimization) and PGDH (policy gradient): loss terms by hand, the
REINFORCE gradient, learning, bad input, determinism, clone / pickle / Pipeline."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

torch = pytest.importorskip("torch")

from skdml.hashing.deep import DeepHashing  # noqa: E402
from skdml.hashing.dmdh import (  # noqa: E402
    DiscrepancyMinimizingDeepHashing,
    DiscrepancyMinimizingLoss,
)
from skdml.hashing.pgdh import (  # noqa: E402
    PolicyGradientDeepHashing,
    PolicyGradientHashingLoss,
)
from skdml.metrics_hashing import hamming_map  # noqa: E402

CLASSES = [DiscrepancyMinimizingDeepHashing, PolicyGradientDeepHashing]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    idx = np.random.default_rng(0).permutation(len(X))[:600]
    return X[idx], y[idx]


def _small(cls, **kw):
    kw.setdefault("n_bits", 8)
    kw.setdefault("max_epochs", 2)
    kw.setdefault("random_state", 0)
    return cls(**kw)


# --- DMDH's objective, term by term ------------------------------------------------------


def _hand_laplacian(labels, gamma):
    n = len(labels)
    same = (labels[:, None] == labels[None]) & ~np.eye(n, dtype=bool)
    diff = labels[:, None] != labels[None]
    S = same / same.sum() - gamma * diff / diff.sum()
    return np.diag(S.sum(1)) - S, S


def test_dmdh_terms_match_a_hand_computation():
    rng = np.random.default_rng(0)
    H = rng.uniform(-1, 1, (7, 4))
    labels = np.array([0, 0, 1, 1, 1, 2, 2])
    D, S = _hand_laplacian(labels, gamma=0.7)
    B = np.where(H >= 0, 1.0, -1.0)
    delta = B - H
    pair = np.trace(H.T @ D @ H)
    first = np.trace(delta.T @ (D.T + D) @ H)
    second = np.trace(delta.T @ D @ delta)
    # the Laplacian form is half the signed sum of squared distances
    sq = ((H[:, None] - H[None]) ** 2).sum(-1)
    assert pair == pytest.approx(0.5 * (S * sq).sum())

    loss = DiscrepancyMinimizingLoss(lambda1=0.3, lambda2=2.0, dissimilar_weight=0.7)
    Ht, lt = torch.tensor(H), torch.tensor(labels)
    got = [t.item() for t in loss.terms(Ht, lt)]
    np.testing.assert_allclose(got, [pair, first, second], rtol=1e-12)
    assert loss(Ht, lt).item() == pytest.approx(pair + 0.3 * first + 2.0 * second)


def test_dmdh_full_expansion_is_the_binary_loss_and_constant_in_H():
    """With both weights 1 the series is exact: tr(B^T D B), whose gradient in H is 0; the
    default weights (1/2, 0) give the pairwise gradient taken at the binary codes."""
    rng = np.random.default_rng(1)
    H = rng.uniform(-1, 1, (6, 3))
    labels = np.array([0, 0, 1, 1, 2, 2])
    D, _ = _hand_laplacian(labels, gamma=0.5)
    B = np.where(H >= 0, 1.0, -1.0)
    Ht = torch.tensor(H, requires_grad=True)
    value = DiscrepancyMinimizingLoss(1.0, 1.0)(Ht, torch.tensor(labels))
    assert value.item() == pytest.approx(np.trace(B.T @ D @ B))
    value.backward()
    np.testing.assert_allclose(Ht.grad.numpy(), 0.0, atol=1e-12)

    Ht = torch.tensor(H, requires_grad=True)
    DiscrepancyMinimizingLoss()(Ht, torch.tensor(labels)).backward()
    np.testing.assert_allclose(Ht.grad.numpy(), (D + D.T) @ B / 2, rtol=1e-10, atol=1e-12)


# --- PGDH's reward and REINFORCE surrogate ------------------------------------------------


def test_pgdh_reward_and_surrogate_match_a_hand_computation():
    rng = np.random.default_rng(2)
    n, K, T, beta = 5, 6, 3, 0.8
    labels = np.array([0, 0, 1, 1, 0])
    codes = rng.choice([-1.0, 1.0], size=(T, n, K))
    logits = rng.normal(size=(n, K))
    same = labels[:, None] == labels[None]
    s = np.where(same, beta, beta - 1.0)
    np.fill_diagonal(s, 0.0)
    r = np.array([[-0.5 * sum(s[i, j] * (K - codes[t, i] @ codes[t, j]) for j in range(n))
                   for i in range(n)] for t in range(T)])
    r_bit = -0.5 * np.einsum("ij,tijk->tik", s, 1 - codes[:, :, None, :] * codes[:, None, :, :])
    pi = 1 / (1 + np.exp(-logits))
    log_p = np.where(codes > 0, np.log(pi), np.log(1 - pi))

    loss = PolicyGradientHashingLoss(beta=beta, n_draws=T)
    lt, ct, zt = torch.tensor(labels), torch.tensor(codes), torch.tensor(logits)
    np.testing.assert_allclose(loss.rewards(ct, lt).numpy(), r, rtol=1e-12)
    np.testing.assert_allclose(loss.bit_rewards(ct, lt).numpy(), r_bit, rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(r_bit.sum(-1), r, rtol=1e-12)
    whole = -((r - r.mean()) * log_p.sum(-1)).mean()
    per_bit = -((r_bit - r_bit.mean(axis=(0, 1))) * log_p).sum(-1).mean()
    code_loss = PolicyGradientHashingLoss(beta=beta, n_draws=T, credit="code")
    assert code_loss.surrogate(zt, ct, lt).item() == pytest.approx(whole)
    assert loss.surrogate(zt, ct, lt).item() == pytest.approx(per_bit)


@pytest.mark.parametrize("credit", ["bit", "code"])
@pytest.mark.parametrize(("same_class", "sign"), [(True, 1), (False, -1)])
def test_pgdh_reinforce_gradient_follows_the_expected_reward(credit, same_class, sign):
    """Two samples, one bit; sample 2 leans to +1. Its expected reward pulls sample 1's bit
    to +1 when they share a class (a descent step raises its logit) and to -1 otherwise,
    and the estimate approaches the exact gradient of the expected reward."""
    beta = 0.7
    z = torch.tensor([[0.2], [1.0]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0 if same_class else 1])
    torch.manual_seed(0)
    loss = PolicyGradientHashingLoss(beta=beta, n_draws=200_000, credit=credit)
    loss(z, labels).backward()
    g = z.grad[0, 0].item()
    assert np.sign(-g) == sign
    # exact: d/dz1 of -1/2 E[r_1] with r_1 = -1/2 s (1 - b1 b2), E[b] = 2 pi - 1
    pi = torch.sigmoid(z.detach()).numpy().ravel()
    s = beta if same_class else beta - 1
    exact = -0.5 * (0.5 * s * (2 * pi[1] - 1) * 2 * pi[0] * (1 - pi[0]))
    assert g == pytest.approx(exact, rel=0.1)


# --- learning ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_learns_better_codes_than_unsupervised_dh(digits, cls):
    X, y = digits
    Xd, yd, Xq, yq = X[:500], y[:500], X[500:], y[500:]
    ours = cls(n_bits=16, max_epochs=10, random_state=0).fit(Xd, yd)
    dh = DeepHashing(n_bits=16, max_epochs=10, random_state=0).fit(Xd)
    m_ours = hamming_map(ours.transform(Xq), ours.transform(Xd), yq, yd)
    m_dh = hamming_map(dh.transform(Xq), dh.transform(Xd), yq, yd)
    assert m_ours > m_dh + 0.1, (m_ours, m_dh)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_bad_input_raises_before_any_state_changes(digits, cls):
    X, y = digits
    for params, match in [({"n_bits": 0}, "n_bits"), ({"n_bits": -3}, "n_bits")]:
        est = _small(cls, **params)
        with pytest.raises(ValueError, match=match):
            est.fit(X, y)
        assert not hasattr(est, "n_iter_")
    with pytest.raises(ValueError, match="requires y"):
        _small(cls).fit(X)
    with pytest.raises(ValueError, match="n_bits=8"):
        _small(cls, module__hidden_sizes=(16, 4)).fit(X, y)
    fitted = _small(cls).fit(X, y)
    codes = fitted.transform(X[:5])
    with pytest.raises(ValueError, match="64 features"):
        fitted.transform(X[:5, :10])
    np.testing.assert_array_equal(fitted.transform(X[:5]), codes)


def test_bad_parameters_of_each_method(digits):
    X, y = digits
    with pytest.raises(ValueError, match="beta"):
        _small(PolicyGradientDeepHashing, beta=1.5).fit(X, y)
    with pytest.raises(ValueError, match="code_generation"):
        _small(PolicyGradientDeepHashing, code_generation="greedy").fit(X, y)
    with pytest.raises(ValueError, match="n_draws"):
        _small(PolicyGradientDeepHashing, n_draws=0).fit(X, y)
    with pytest.raises(ValueError, match="lambda1"):
        _small(DiscrepancyMinimizingDeepHashing, lambda1=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="beta must be in"):
        PolicyGradientHashingLoss(beta=2.0)
    with pytest.raises(ValueError, match="credit"):
        PolicyGradientHashingLoss(credit="sample")


# --- determinism, stochastic codes ---------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_same_random_state_same_codes(digits, cls):
    X, y = digits
    a = _small(cls, random_state=3).fit(X, y).transform(X)
    b = _small(cls, random_state=3).fit(X, y).transform(X)
    np.testing.assert_array_equal(a, b)
    c = _small(cls, random_state=4).fit(X, y).transform(X)
    assert (a != c).any()


def test_pgdh_codes_deterministic_and_stochastic(digits):
    X, y = digits
    pg = _small(PolicyGradientDeepHashing, n_bits=16, max_epochs=3).fit(X, y)
    logits = np.asarray(pg._project(X))
    np.testing.assert_array_equal(pg.transform(X), logits >= 0)  # pi >= 1/2
    pg.set_params(code_generation="stochastic")
    drawn = pg.transform(X)
    np.testing.assert_array_equal(pg.transform(X), drawn)  # seeded by random_state
    assert drawn.dtype == bool and drawn.shape == (len(X), 16)
    assert (drawn != (logits >= 0)).any()
    # over many reseeded draws a bit is on with probability pi
    pi = 1 / (1 + np.exp(-logits[:20].astype(np.float64)))
    freq = np.mean([pg.set_params(random_state=s).transform(X[:20]) for s in range(400)], 0)
    assert np.abs(freq - pi).max() < 0.1


# --- scikit-learn composition --------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_clone_pickle_pipeline(digits, cls):
    X, y = digits
    est = _small(cls)
    assert clone(est).get_params(deep=False) == est.get_params(deep=False)
    est.fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.transform(X[:20]), est.transform(X[:20]))
    pipe = make_pipeline(MinMaxScaler(), _small(cls)).fit(X, y)
    codes = pipe.transform(X[:10])
    assert codes.dtype == bool and codes.shape == (10, 8)


def test_pgdh_warns_when_two_classes_end_on_one_code():
    """Two classes with identical samples cannot get two codes: the check after fit names
    them; separated classes raise nothing."""
    from skdml.hashing.pgdh import PolicyGradientDeepHashing

    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    est = PolicyGradientDeepHashing(n_bits=8, max_epochs=2, random_state=0).fit(X, y)
    twins = np.vstack([X[:20], X[:20]])
    labels = np.repeat(["a", "b"], 20)
    with pytest.warns(UserWarning, match=r"classes \['a', 'b'\] share one code"):
        est._warn_merged_classes(twins, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est._warn_merged_classes(X[:20], np.repeat(["a"], 20))
