"""Proxy losses: each class is stood for by one or a few learned vectors (proxies), and each
embedding is pulled towards its class's proxies and pushed from the others', so a batch
needs no pairs or triplets."""

import torch
from torch.nn import functional as F

from ..distances import CosineSimilarity, LpDistance
from ._base import _EPS_NORM, ClassLoss, _check_real, _masked_logsumexp
from ._classification import _arcface_logits, _check_cosine


def _check_sizes(owner, n_classes, embedding_dim):
    missing = [name for name, value in (("n_classes", n_classes),
                                        ("embedding_dim", embedding_dim)) if value is None]
    if missing:
        raise ValueError(
            f"{owner} learns vectors for each class, so it needs n_classes and embedding_dim "
            f"({' and '.join(missing)} not given). Both are set from the data by a "
            f"DeepMetricLearner when it gets the class, DeepMetricLearner(loss={owner}); "
            f"to build the loss yourself, give them: {owner}(n_classes=..., "
            "embedding_dim=...)."
        )


def _unit_rows(loss, dtype):
    """The loss's class vectors in ``dtype``, unit-normalized: by its distance when the
    distance normalizes what it measures (normalizing twice only costs time), here
    otherwise."""
    weight = loss.weight.to(dtype)
    return weight if loss.distance.normalize_embeddings else F.normalize(weight, dim=1)


class ProxyNCALoss(ClassLoss):
    r"""Proxy-NCA: each embedding's softmax over its distances to the class proxies, trained
    to pick its own class; one term per sample.

    With ``p_j`` the unit-normalized proxy of class ``j`` and ``d`` the distance (by default
    the squared Euclidean distance between L2-normalized embeddings and proxies), the term
    of a sample ``x`` of class ``y`` is the cross-entropy
    ``-log(exp(-s d(x, p_y)) / sum_j exp(-s d(x, p_j)))``, ``s`` the ``scale``.

    The sum in the denominator runs over every class, the positive one included, as in
    pytorch-metric-learning and in Proxy-NCA++ (Teh et al., 2020), so that each term is a
    cross-entropy, at least 0; the paper's NCA form leaves the positive proxy out of the
    denominator. ``scale=1`` is the paper's formula, without a temperature; Proxy-NCA++
    reports better results with a temperature of 1/9 (``scale=9``).

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner` given the class.
    scale : float, default=1.0
        Multiplies the logits (one over the softmax temperature).
    distance : distance or similarity, default=LpDistance(power=2, normalize_embeddings=True)
        A distance is negated into the logits, a similarity used as it is. The proxies are
        always normalized; the distance says whether the embeddings are.
    reducer : reducer, default=MeanReducer()
        Over the per-sample terms.
    embedding_regularizer, weight_regularizer : regularizer or None, default=None
        The second one on the proxies (``weight``).

    References
    ----------
    Y. Movshovitz-Attias, A. Toshev, T. K. Leung, S. Ioffe and S. Singh, "No fuss distance
    metric learning using proxies", ICCV 2017.

    E. W. Teh, T. DeVries and G. W. Taylor, "ProxyNCA++: revisiting and revitalizing proxy
    neighborhood component analysis", ECCV 2020.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses import ProxyNCALoss
    >>> _ = torch.manual_seed(0)
    >>> loss = ProxyNCALoss(n_classes=3, embedding_dim=4, scale=9.0)
    >>> loss
    ProxyNCALoss(n_classes=3, embedding_dim=4, scale=9.0)
    >>> loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])).shape
    torch.Size([])
    """

    _reprs = ("scale",)

    def __init__(self, n_classes=None, embedding_dim=None, scale=1.0, *, distance=None,
                 reducer=None, embedding_regularizer=None, weight_regularizer=None):
        _check_sizes("ProxyNCALoss", n_classes, embedding_dim)
        super().__init__(n_classes, embedding_dim, distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer,
                         weight_regularizer=weight_regularizer)
        self.scale = _check_real(scale, "scale", "ProxyNCALoss", low=0)

    def default_distance(self):
        return LpDistance(power=2, normalize_embeddings=True)

    def logits(self, x, labels):
        proxies = _unit_rows(self, x.dtype)
        return self.scale * self.distance.closeness(self.distance(x, proxies))


class ProxyAnchorLoss(ClassLoss):
    r"""Proxy-anchor: each proxy is an anchor, pulling the batch's embeddings of its class
    and pushing the others', every embedding weighted by how hard it is.

    With ``s(x, p)`` the cosine similarity, ``P+`` the proxies of the classes present in
    the batch, ``X+_p`` the batch's embeddings of proxy ``p``'s class and ``X-_p`` the
    others, the loss is the sum of two means:

    - over ``p`` in ``P+``: ``log(1 + sum_{x in X+_p} exp(-alpha (s(x, p) - margin)))``;
    - over every proxy ``p``: ``log(1 + sum_{x in X-_p} exp(alpha (s(x, p) + margin)))``.

    The ``reducer`` makes each of the two scalars: ``compute`` returns the positive terms
    (one per proxy in ``P+``) and :meth:`penalty` the reduced negative terms (one per proxy).

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner` given the class.
    alpha : float, default=32.0
        Scale of the similarities.
    margin : float, default=0.1
        The paper's delta.
    distance : similarity, default=CosineSimilarity()
        A similarity (the margin is added to it); a distance is refused.
    reducer : reducer, default=MeanReducer()
        Applied to the positive terms and to the negative terms, separately.
    embedding_regularizer, weight_regularizer : regularizer or None, default=None
        The second one on the proxies (``weight``).

    References
    ----------
    S. Kim, D. Kim, M. Cho and S. Kwak, "Proxy anchor loss for deep metric learning",
    CVPR 2020.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses import ProxyAnchorLoss
    >>> _ = torch.manual_seed(0)
    >>> loss = ProxyAnchorLoss(n_classes=3, embedding_dim=4)
    >>> loss
    ProxyAnchorLoss(n_classes=3, embedding_dim=4, alpha=32.0, margin=0.1)
    >>> bool(loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])) > 0)
    True

    In a learner, give the class: ``n_classes`` and ``embedding_dim`` come from the data.

    >>> from sklearn.datasets import load_iris
    >>> from skdml.deep import DeepMetricLearner
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = DeepMetricLearner(loss=ProxyAnchorLoss, loss__alpha=16.0,
    ...                             module__hidden_sizes=(8, 4), max_epochs=2,
    ...                             random_state=0).fit(X, y)
    >>> learner.loss_.weight.shape
    torch.Size([3, 4])
    """

    distance_kind = "similarity"
    _reprs = ("alpha", "margin")

    def __init__(self, n_classes=None, embedding_dim=None, alpha=32.0, margin=0.1, *,
                 distance=None, reducer=None, embedding_regularizer=None,
                 weight_regularizer=None):
        _check_sizes("ProxyAnchorLoss", n_classes, embedding_dim)
        super().__init__(n_classes, embedding_dim, distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer,
                         weight_regularizer=weight_regularizer)
        self.alpha = _check_real(alpha, "alpha", "ProxyAnchorLoss", low=0)
        self.margin = _check_real(margin, "margin", "ProxyAnchorLoss", low=0, strict=False)

    def default_distance(self):
        return CosineSimilarity()

    def _similarities_and_mask(self, x, labels):
        similarities = self.distance(x, self.weight.to(x.dtype))
        return similarities, F.one_hot(labels, self.n_classes).bool()

    def compute(self, embeddings, labels, tuples):
        s, same = self._similarities_and_mask(embeddings, labels)
        terms = _masked_logsumexp(-self.alpha * (s - self.margin), same, dim=0,
                                  add_one=True)
        # the negative half, from the same similarities, for penalty() in this forward
        self._negative_terms = _masked_logsumexp(self.alpha * (s + self.margin), ~same, dim=0,
                                  add_one=True)
        return terms[same.any(0)]

    def penalty(self, embeddings, labels, tuples):
        negative = self.__dict__.pop("_negative_terms", None)
        if negative is None:  # called on its own, not after compute
            s, same = self._similarities_and_mask(embeddings, labels)
            negative = _masked_logsumexp(self.alpha * (s + self.margin), ~same, dim=0,
                                  add_one=True)
        return self.reducer(negative)


class SoftTripleLoss(ClassLoss):
    r"""SoftTriple: a softmax over classes each represented by several centers, with a
    margin on the target, and a regularizer that lets centers of one class merge.

    With ``s_jk`` the cosine similarity of an embedding ``x`` to center ``k`` of class
    ``j``, the class similarity is the soft maximum of its centers'
    ``S_j = sum_k softmax_k(s_jk / gamma) s_jk``, and the term of a sample of class ``y``
    is the cross-entropy of the logits ``scale * (S_j - margin [j = y])``. The regularizer,
    added once per batch, is ``tau / (C K (K - 1))`` times the sum over each class's pairs
    of centers ``t < u`` of ``sqrt(2 - 2 s(w_jt, w_ju))`` (their Euclidean distance on the
    unit sphere), ``C`` classes of ``K`` centers.

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner` given the class.
    n_vectors_per_class : int, default=10
        ``K``, the centers of each class (rows ``j K .. j K + K - 1`` of ``weight``).
    scale : float, default=20.0
        The paper's lambda.
    gamma : float, default=0.1
        Temperature of the soft assignment of an embedding to a class's centers.
    tau : float, default=0.2
        Weight of the regularizer between centers; 0 turns it off (as does ``K=1``).
    margin : float, default=0.01
        The paper's delta.
    distance : similarity, default=CosineSimilarity()
        A similarity; the regularizer's formula assumes one of unit vectors.
    reducer : reducer, default=MeanReducer()
        Over the per-sample terms.
    embedding_regularizer, weight_regularizer : regularizer or None, default=None
        The second one on the centers (``weight``), besides ``tau``'s.

    References
    ----------
    Q. Qian, L. Shang, B. Sun, J. Hu, H. Li and R. Jin, "SoftTriple loss: deep metric
    learning without triplet sampling", ICCV 2019.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses import SoftTripleLoss
    >>> _ = torch.manual_seed(0)
    >>> loss = SoftTripleLoss(n_classes=3, embedding_dim=4)
    >>> loss.weight.shape
    torch.Size([30, 4])
    >>> bool(loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])) > 0)
    True
    """

    distance_kind = "similarity"
    _reprs = ("n_vectors_per_class", "scale", "gamma", "tau", "margin")

    def __init__(self, n_classes=None, embedding_dim=None, n_vectors_per_class=10, scale=20.0,
                 gamma=0.1, tau=0.2, margin=0.01, *, distance=None, reducer=None,
                 embedding_regularizer=None, weight_regularizer=None):
        _check_sizes("SoftTripleLoss", n_classes, embedding_dim)
        super().__init__(n_classes, embedding_dim, n_vectors_per_class=n_vectors_per_class,
                         distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer,
                         weight_regularizer=weight_regularizer)
        self.n_vectors_per_class = int(n_vectors_per_class)
        self.scale = _check_real(scale, "scale", "SoftTripleLoss", low=0)
        self.gamma = _check_real(gamma, "gamma", "SoftTripleLoss", low=0)
        self.tau = _check_real(tau, "tau", "SoftTripleLoss", low=0, strict=False)
        self.margin = _check_real(margin, "margin", "SoftTripleLoss", low=0, strict=False)

    def default_distance(self):
        return CosineSimilarity()

    def logits(self, x, labels):
        s = self.distance(x, self.weight.to(x.dtype))
        s = s.view(len(x), self.n_classes, self.n_vectors_per_class)
        relaxed = (torch.softmax(s / self.gamma, dim=2) * s).sum(2)
        target = F.one_hot(labels, self.n_classes).to(relaxed.dtype)
        return self.scale * (relaxed - self.margin * target)

    def penalty(self, embeddings, labels, tuples):
        k = self.n_vectors_per_class
        if self.tau == 0 or k == 1:
            return 0.0
        t, u = torch.triu_indices(k, k, 1, device=self.weight.device)
        first = (k * torch.arange(self.n_classes, device=t.device)[:, None] + t).ravel()
        second = (k * torch.arange(self.n_classes, device=u.device)[:, None] + u).ravel()
        w = self.weight.to(embeddings.dtype)
        s = self.distance.pairwise(w[first], w[second])
        spread = (2.0 - 2.0 * s).clamp_min(_EPS_NORM).sqrt().sum()
        return self.tau * spread / (self.n_classes * k * (k - 1))


class SubCenterArcFaceLoss(ClassLoss):
    r"""Sub-center ArcFace: ArcFace with ``K`` sub-centers per class, an embedding's class
    cosine being its largest over the class's sub-centers; one term per sample.

    With ``cos_j = max_k cos(x, W_jk)`` and ``theta_y`` the angle of the target's, the term
    is the cross-entropy of ``scale * cos_j``, the target's replaced by
    ``scale * cos(theta_y + margin)`` (``cos(theta_y) - margin sin(margin)`` where
    ``theta_y + margin > pi``), as in :class:`ArcFaceLoss`. Noisy samples gather on
    non-dominant sub-centers, so a class's clean samples share one. (The paper's second
    stage, dropping the samples far from the dominant sub-center, is not part of the loss.)

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner` given the class.
    n_vectors_per_class : int, default=3
        ``K``, the sub-centers of each class (rows ``j K .. j K + K - 1`` of ``weight``).
    margin : float, default=0.5
        In radians.
    scale : float, default=64.0
    distance : CosineSimilarity, default=CosineSimilarity()
        The margin is on angles: only the cosine similarity is accepted.
    reducer : reducer, default=MeanReducer()
    embedding_regularizer, weight_regularizer : regularizer or None, default=None

    References
    ----------
    J. Deng, J. Guo, T. Liu, M. Gong and S. Zafeiriou, "Sub-center ArcFace: boosting face
    recognition by large-scale noisy web faces", ECCV 2020.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses import SubCenterArcFaceLoss
    >>> _ = torch.manual_seed(0)
    >>> loss = SubCenterArcFaceLoss(n_classes=3, embedding_dim=4)
    >>> loss.weight.shape  # 3 sub-centers for each of 3 classes
    torch.Size([9, 4])
    >>> bool(loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])) > 0)
    True
    """

    distance_kind = "similarity"
    _reprs = ("n_vectors_per_class", "margin", "scale")

    def __init__(self, n_classes=None, embedding_dim=None, n_vectors_per_class=3, margin=0.5,
                 scale=64.0, *, distance=None, reducer=None, embedding_regularizer=None,
                 weight_regularizer=None):
        _check_sizes("SubCenterArcFaceLoss", n_classes, embedding_dim)
        super().__init__(n_classes, embedding_dim, n_vectors_per_class=n_vectors_per_class,
                         distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer,
                         weight_regularizer=weight_regularizer)
        _check_cosine(self)
        self.n_vectors_per_class = int(n_vectors_per_class)
        self.margin = _check_real(margin, "margin", "SubCenterArcFaceLoss", low=0,
                                  strict=False)
        self.scale = _check_real(scale, "scale", "SubCenterArcFaceLoss", low=0)

    def default_distance(self):
        return CosineSimilarity()

    def logits(self, x, labels):
        cos = self.cosines(x).view(len(x), self.n_classes, self.n_vectors_per_class)
        return _arcface_logits(cos.amax(2), labels, self.margin, self.scale)


class NormalizedSoftmaxLoss(ClassLoss):
    r"""Normalized softmax: the cross-entropy of the cosine similarities to the class
    vectors divided by a temperature; one term per sample.

    With ``w_j`` the unit-normalized vector of class ``j``, the logits are
    ``s(x, w_j) / temperature``, ``s`` the cosine similarity by default (no bias), which
    makes the classifier's decision depend on angles only.

    Parameters
    ----------
    n_classes, embedding_dim : int
        Set from the data by a :class:`~skdml.deep.DeepMetricLearner` given the class.
    temperature : float, default=0.05
    distance : distance or similarity, default=CosineSimilarity()
        A similarity is used as it is, a distance negated. The class vectors are always
        normalized; the distance says whether the embeddings are.
    reducer : reducer, default=MeanReducer()
        Over the per-sample terms.
    embedding_regularizer, weight_regularizer : regularizer or None, default=None
        The second one on the class vectors (``weight``).

    References
    ----------
    A. Zhai and H.-Y. Wu, "Classification is a strong baseline for deep metric learning",
    BMVC 2019.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses import NormalizedSoftmaxLoss
    >>> _ = torch.manual_seed(0)
    >>> loss = NormalizedSoftmaxLoss(n_classes=3, embedding_dim=4)
    >>> loss
    NormalizedSoftmaxLoss(n_classes=3, embedding_dim=4, temperature=0.05)
    >>> bool(loss(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])) > 0)
    True
    """

    _reprs = ("temperature",)

    def __init__(self, n_classes=None, embedding_dim=None, temperature=0.05, *, distance=None,
                 reducer=None, embedding_regularizer=None, weight_regularizer=None):
        _check_sizes("NormalizedSoftmaxLoss", n_classes, embedding_dim)
        super().__init__(n_classes, embedding_dim, distance=distance, reducer=reducer,
                         embedding_regularizer=embedding_regularizer,
                         weight_regularizer=weight_regularizer)
        self.temperature = _check_real(temperature, "temperature", "NormalizedSoftmaxLoss",
                                       low=0)

    def default_distance(self):
        return CosineSimilarity()

    def logits(self, x, labels):
        vectors = _unit_rows(self, x.dtype)
        return self.distance.closeness(self.distance(x, vectors)) / self.temperature
