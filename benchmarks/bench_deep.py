"""Deep metric learning on digits: skdml's estimators, the same work in a bare torch loop, and
pytorch-metric-learning 2.9.0, like for like.

    python benchmarks/bench_deep.py [--seeds 3] [--repeat 3] [--epochs 30] [--losses ...]
                                    [--protocol closed|open] [--contenders plain shared own]

Protocol, the same for every contender of a loss:

- data, ``--protocol closed`` (default): digits, standardized, 70/30 stratified split (seed
  0), handed to the peer as arrays; ``--protocol open``: train on digits 0-4, retrieve among
  the unseen digits 5-9 (standardized with the training classes' statistics);
- network: MLP 64-128-64, tanh, L2-normalized output (DDML: raw output, as in its paper);
  Adam, lr 1e-3 (DDML: weight decay 1e-4), ``--epochs`` epochs;
- batches: m-per-class, m = 12 samples of each training class, 120 per batch for the ten
  classes (what pml's ``MPerClassSampler(m=12, batch_size=120)`` draws), 60 for five. For each seed one index sequence is
  drawn with skdml's ``ClassBalancedBatchSampler`` and every contender replays the very same
  sequence (the estimator through ``iterator_train__batch_sampler``); the estimator is also
  timed with its own sampler, same m and batch size, its own draws;
- initialization: the weights the skdml estimator draws for the seed (Xavier-uniform, zero
  biases; the loss's class vectors or proxies too, copied into pml's loss, transposed where
  pml keeps them as columns), copied into every other contender's network; the loss's
  parameters are trained with the network's, by the same Adam (as skorch does);
- threads: one (``thread_settings`` here, ``run_peer`` for pml);
- scorer: ``skdml.metrics`` MAP@R and precision@1 of the test queries against the training
  set (open set: of each query against the other queries, leave one out), computed in this
  process on the embeddings every contender returns (pml's come back from its process in an
  ``.npz``).

Contenders per loss: the plain torch loop (skdml's loss and miner objects in ``TRAIN_LOOP``,
a bare loop: the estimator's work without the estimator), the skdml estimator on the shared
batches (the same work: its embedding matches the plain loop's to round-off), the estimator
with its own sampler, and pml 2.9.0 (its own losses and miners in the very same
``TRAIN_LOOP``, in ``.venv-peers``). Losses keep each library's formula: the triplet loss
with semi-hard mining, multi-similarity and ArcFace compute the same thing in both; skdml's
contrastive loss is Hadsell's squared form, pml's the plain-distance hinge. The losses and
miners of issue 17 (``--losses new``) run at their papers' settings, the same on both sides
(``LOSSES``); an entry whose skdml class is missing is skipped, the reason printed.
``--contenders`` picks skdml's contenders; a second table sets the estimator on the shared
batches beside pml, loss by loss.

``--defaults`` measures something else: every deep learner and loss **at its defaults**, as
a new user fits it (``DeepMetricLearner(loss=L)``, ``DDML()``, ``DAML()``, ...), beside the
classical learners at theirs and Euclidean distance on the features, on both protocols, for
``--seeds`` seeds (mean ± std; the classical learners are deterministic or seeded alike), with
MAP@R and R@1 (= P@1). The open-set run adds a learning curve: MAP@R on the unseen digits
and on the training samples after each epoch, for a few losses, which shows what training on
the seen classes does to the unseen ones. Tables ``deep_defaults``, ``deep_defaults_open``
and ``deep_open_curve``.

Timing: CPU time (``time.process_time``; the figure to trust on a loaded machine) and wall
time of each fit, from building the network to the last step. Per seed, one untimed warm-up
fit (the one scored: fits are deterministic) then ``--repeat`` timed fits; every contender
reports the median of its ``seeds x repeat`` timed fits. Goal: the estimator on the shared
batches within 1.15x the plain loop's CPU time.
"""

import importlib
import inspect
import math
import os
import sys
import warnings
from collections import namedtuple

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import (  # noqa: E402
    NOT_MEASURED, digits_split, protocol_parser, raised, run_peer, start_run,
    thread_settings, write_table,
)

import torch  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

from skdml.deep import DDML, ClassBalancedBatchSampler, DeepMetricLearner  # noqa: E402
from skdml.metrics import map_at_r, precision_at_k  # noqa: E402

M, LR, GOAL, EMBEDDING_DIM = 12, 1e-3, 1.15, 64

# The bare loop, the network and the timer, run as they are by this process (plain torch
# loop) and by the peer's (pml): the two differ only in the loss and miner objects.
TRAIN_LOOP = r'''
import time

import torch
from torch import nn
from torch.nn import functional as F


class Net(nn.Module):
    """tanh layers, optionally L2-normalized; the same state_dict keys as skdml's MLP."""

    def __init__(self, sizes, normalize):
        super().__init__()
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.normalize = normalize

    def forward(self, x):
        z = self.net(x)
        return F.normalize(z, dim=1) if self.normalize else z


def train(init, normalize, loss_fn, miner, batches, X, y, lr, weight_decay):
    """Build the network from ``init`` (a state_dict of arrays), then one Adam step a batch."""
    layers = sorted(k for k in init if k.endswith(".weight"))
    sizes = [init[layers[0]].shape[1]] + [init[k].shape[0] for k in layers]
    net = Net(sizes, normalize)
    net.load_state_dict({k: torch.as_tensor(v) for k, v in init.items()})
    params = [*net.parameters(), *loss_fn.parameters()]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    X, y = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    net.train()
    for epoch in torch.as_tensor(batches):
        for idx in epoch:
            z = net(X[idx])
            labels = y[idx]
            loss = loss_fn(z, labels, None if miner is None else miner(z, labels))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def embed(net, *arrays):
    with torch.no_grad():
        return [net(torch.as_tensor(a, dtype=torch.float32)).numpy() for a in arrays]


def timed(fn):
    """CPU seconds, wall seconds and the result of ``fn()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, result
'''
_LOOP = {}
exec(TRAIN_LOOP, _LOOP)  # the very code the peer runs
train, embed, timed = _LOOP["train"], _LOOP["embed"], _LOOP["timed"]

# The contenders of a loss, by name. ``loss`` and ``miner`` are (skdml class name, keyword
# arguments): the plain loop builds them from these, the estimator gets them as ``loss=``,
# ``loss__<k>=`` (``miner=``, ``miner__<k>=``); a class name resolves in skdml.deep and its
# submodules (:func:`_skdml_class`), and an entry whose class is not there is skipped with
# the reason printed. A keyword value that is itself a (class name, keyword arguments)
# pair is built fresh for every fit (the loss that CrossBatchMemory wraps). Losses with
# ``n_classes`` / ``embedding_dim`` get them from the data (the estimator does the same).
# ``pml``: pytorch-metric-learning's loss and miner, with the same hyper-parameters,
# evaluated in its process (``{C}``: the number of training classes, ``{D}``: the
# embedding width), or None. ``papers``: where the settings come from.
Entry = namedtuple("Entry", "key loss miner normalize weight_decay pml papers",
                   defaults=(None, True, 0.0, None, ""))

LOSSES = {
    "DDML": Entry("ddml", ("GeneralizedLogisticLoss", dict(tau=3.0, beta=2.0)),
                  normalize=False, weight_decay=1e-4),
    "contrastive": Entry("contrastive", ("ContrastiveLoss", dict(margin=1.0)),
                         pml="losses.ContrastiveLoss(pos_margin=0, neg_margin=1), None"),
    "triplet+semi-hard": Entry(
        "triplet", ("TripletMarginLoss", dict(margin=0.05, squared=False)),
        ("SemiHardMiner", dict(margin=0.05, squared=False)),
        pml="losses.TripletMarginLoss(margin=0.05), "
            "miners.TripletMarginMiner(margin=0.05, type_of_triplets='semihard')"),
    "multi-similarity": Entry(
        "ms", ("MultiSimilarityLoss", dict(alpha=2.0, beta=50.0, base=0.5)),
        pml="losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5), None"),
    "ArcFace": Entry("arcface", ("ArcFaceLoss", dict(margin=0.5, scale=64.0)),
                     pml=f"losses.ArcFaceLoss({{C}}, {{D}}, margin={math.degrees(0.5)!r}, "
                         "scale=64), None"),
    # -- issue 17: the losses and miners practitioners reach for, at their papers' settings
    "proxy-NCA": Entry(
        "proxynca", ("ProxyNCALoss", dict(scale=1.0)),
        pml="losses.ProxyNCALoss({C}, {D}, softmax_scale=1), None",
        papers="Movshovitz-Attias et al. 2017: normalized proxies, squared Euclidean"),
    "proxy-anchor": Entry(
        "proxyanchor", ("ProxyAnchorLoss", dict(alpha=32.0, margin=0.1)),
        pml="losses.ProxyAnchorLoss({C}, {D}, margin=0.1, alpha=32), None",
        papers="Kim et al. 2020: margin 0.1, alpha 32"),
    "SoftTriple": Entry(
        "softtriple", ("SoftTripleLoss", dict(n_vectors_per_class=10, scale=20.0, gamma=0.1,
                                              tau=0.2, margin=0.01)),
        pml="losses.SoftTripleLoss({C}, {D}, centers_per_class=10, la=20, gamma=0.1, "
            "margin=0.01, weight_regularizer=regularizers.SparseCentersRegularizer({C}, 10), "
            "weight_reg_weight=0.2), None",
        papers="Qian et al. 2019: K 10, lambda 20, gamma 0.1, tau 0.2, delta 0.01"),
    "sub-center-ArcFace": Entry(
        "subcenter", ("SubCenterArcFaceLoss", dict(n_vectors_per_class=3, margin=0.5,
                                                     scale=64.0)),
        pml=f"losses.SubCenterArcFaceLoss(num_classes={{C}}, embedding_size={{D}}, "
            f"margin={math.degrees(0.5)!r}, scale=64, sub_centers=3), None",
        papers="Deng et al. 2020: K 3, margin 0.5 rad, scale 64"),
    "normalized-softmax": Entry(
        "normsoftmax", ("NormalizedSoftmaxLoss", dict(temperature=0.05)),
        pml="losses.NormalizedSoftmaxLoss({C}, {D}, temperature=0.05), None",
        papers="Zhai and Wu 2019: temperature 0.05"),
    "SupCon": Entry(
        "supcon", ("SupConLoss", dict(temperature=0.1)),
        pml="losses.SupConLoss(temperature=0.1), None",
        papers="Khosla et al. 2020: temperature 0.1"),
    "NT-Xent": Entry(
        "ntxent", ("NTXentLoss", dict(temperature=0.5)),
        pml="losses.NTXentLoss(temperature=0.5), None",
        papers="Chen et al. 2020 (SimCLR): temperature 0.5"),
    "circle": Entry(
        "circle", ("CircleLoss", dict(m=0.4, gamma=80.0)),
        pml="losses.CircleLoss(m=0.4, gamma=80), None",
        papers="Sun et al. 2020, fine-grained retrieval: m 0.4, gamma 80"),
    "generalized-lifted": Entry(
        "glifted", ("GeneralizedLiftedStructureLoss", dict(pos_margin=0.0, neg_margin=1.0)),
        pml="losses.GeneralizedLiftedStructureLoss(neg_margin=1, pos_margin=0), None",
        papers="Hermans et al. 2017: margin 1, Euclidean"),
    "tuplet-margin": Entry(
        "tuplet", ("TupletMarginLoss", dict(margin=5.73, scale=64.0)),
        pml="losses.TupletMarginLoss(margin=5.73, scale=64), None",
        papers="Yu and Tao 2019: margin 0.1 rad (5.73 deg), scale 64"),
    "FastAP": Entry(
        "fastap", ("FastAPLoss", dict(num_bins=10)),
        pml="losses.FastAPLoss(num_bins=10), None",
        papers="Cakir et al. 2019: 10 bins"),
    "XBM+multi-similarity": Entry(
        "xbm", ("CrossBatchMemory", dict(
            loss=("MultiSimilarityLoss", dict(alpha=2.0, beta=50.0, base=0.5)),
            memory_size=512)),
        pml="losses.CrossBatchMemory(losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5), "
            "{D}, memory_size=512), None",
        papers="Wang et al. 2020: memory of 512 embeddings around the multi-similarity loss"),
    "multi-similarity+MS-miner": Entry(
        "msminer", ("MultiSimilarityLoss", dict(alpha=2.0, beta=50.0, base=0.5)),
        ("MultiSimilarityMiner", dict(epsilon=0.1)),
        pml="losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5), "
            "miners.MultiSimilarityMiner(epsilon=0.1)",
        papers="Wang et al. 2019: epsilon 0.1"),
    "contrastive+pair-margin": Entry(
        "pairmargin", ("ContrastiveLoss", dict(margin=1.0)),
        ("PairMarginMiner", dict(pos_margin=0.2, neg_margin=0.8)),
        pml="losses.ContrastiveLoss(pos_margin=0, neg_margin=1), "
            "miners.PairMarginMiner(pos_margin=0.2, neg_margin=0.8)",
        papers="pair margin miner: positives beyond 0.2, negatives within 0.8"),
    "triplet+easy-hard": Entry(
        "easyhard", ("TripletMarginLoss", dict(margin=0.05, squared=False)),
        ("BatchEasyHardMiner", dict(pos_strategy="easy", neg_strategy="semihard")),
        pml="losses.TripletMarginLoss(margin=0.05), "
            "miners.BatchEasyHardMiner(pos_strategy='easy', neg_strategy='semihard')",
        papers="Xuan et al. 2020: easy positive, semi-hard negative"),
    "angular+angular-miner": Entry(
        "angular", ("AngularLoss", dict(alpha=40.0)), ("AngularMiner", dict(angle=20.0)),
        pml="losses.AngularLoss(alpha=40), miners.AngularMiner(angle=20)",
        papers="Wang et al. 2017: alpha 40 deg; angular miner 20 deg"),
}
CORE, NEW = list(LOSSES)[:5], list(LOSSES)[5:]  # the default run; issue 17's
# pml's versions of these form one (positive pairs x negative pairs) matrix, or one row per
# mined triplet, per batch: minutes per fit at 30 epochs here (run them with a few epochs)
PML_SLOW = ("NT-Xent", "tuplet-margin", "angular+angular-miner")

_MODULES = ("skdml.deep", "skdml.deep.losses", "skdml.deep.losses._proxy",
            "skdml.deep.losses._batch", "skdml.deep.losses._memory", "skdml.deep.miners")


def _skdml_class(name):
    """The skdml class called ``name``, or the reason it is missing (a string)."""
    reasons = []
    for module in _MODULES:
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        except Exception as exc:  # a module being written: say what happened
            reasons.append(f"{module}: {raised(exc)}")
            continue
        if cls is not None:
            return cls
    return "; ".join(reasons) or f"no {name} in {', '.join(_MODULES)} yet"


def missing(name):
    """Why the entry ``name`` cannot run (a class that is not there), or None."""
    entry = LOSSES[name]
    specs = [entry.loss] + ([entry.miner] if entry.miner else [])
    specs += [v for v in entry.loss[1].values() if isinstance(v, tuple)]
    for cls_name, _ in specs:
        cls = _skdml_class(cls_name)
        if isinstance(cls, str):
            return cls
    return None


def _build(spec, n_classes=None):
    """An instance of (class name, keyword arguments), with ``n_classes`` and
    ``embedding_dim`` when its constructor takes them (``n_classes`` given)."""
    cls_name, kwargs = spec
    cls = _skdml_class(cls_name)
    kwargs = {k: _build(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    if n_classes is not None:
        params = inspect.signature(cls).parameters
        if "n_classes" in params:
            kwargs.setdefault("n_classes", n_classes)
        if "embedding_dim" in params:
            kwargs.setdefault("embedding_dim", EMBEDDING_DIM)
    return cls(**kwargs)


def make_loss(name, n_classes):
    """The plain loop's loss and miner for the entry ``name``."""
    entry = LOSSES[name]
    return (_build(entry.loss, n_classes),
            None if entry.miner is None else _build(entry.miner))


def estimator_params(name):
    """The estimator's ``loss``/``miner`` parameters for the entry ``name``."""
    entry = LOSSES[name]
    params = {"loss": _skdml_class(entry.loss[0])}
    params.update({f"loss__{k}": _build(v) if isinstance(v, tuple) else v
                   for k, v in entry.loss[1].items()})
    if entry.miner is not None:
        params["miner"] = _skdml_class(entry.miner[0])
        params.update({f"miner__{k}": v for k, v in entry.miner[1].items()})
    return params

PEER = TRAIN_LOOP + r'''
import warnings

import numpy as np
from _common import attempt, peer_data, peer_save
from pytorch_metric_learning import losses, miners, regularizers

warnings.simplefilter("ignore")
data = peer_data()
X_train, X_test, y_train = data["X_train"], data["X_test"], data["y_train"]
out, arrays = {}, {}
for key, make in PARAMS["losses"].items():
    def run(key=key, make=make):
        times = {"cpu": [], "wall": []}
        for seed in PARAMS["seeds"]:
            prefix = f"{key}__{seed}__"
            init = {k[len(prefix + "init__"):]: v for k, v in data.items()
                    if k.startswith(prefix + "init__")}

            def fit():
                loss_fn, miner = eval(make)
                if prefix + "class_vectors" in data:
                    # skdml's class vectors (one row each), into pml's one learned matrix
                    # (one row or one column each: transposed when pml has them as columns)
                    W = torch.as_tensor(data[prefix + "class_vectors"])
                    (param,) = loss_fn.parameters()
                    param.data.copy_(W if param.shape == W.shape else W.T)
                return train(init, True, loss_fn, miner, data[prefix + "batches"], X_train,
                             y_train, PARAMS["lr"], 0.0)

            for i in range(1 + PARAMS["repeat"]):
                cpu, wall, net = timed(fit)
                if i == 0:
                    arrays[prefix + "train"], arrays[prefix + "test"] = embed(net, X_train,
                                                                              X_test)
                if i > 0 or not PARAMS["warmup"]:
                    times["cpu"].append(cpu)
                    times["wall"].append(wall)
        return times
    out[key] = attempt(run)
peer_save(**arrays)
print(json.dumps(out))
'''


class _Replay:
    """A batch sampler replaying a fixed sequence: ``batches[e]`` in epoch ``e``."""

    def __init__(self, batches):
        self.batches, self.epoch = batches, 0

    def __len__(self):
        return len(self.batches[0])

    def __iter__(self):
        epoch, self.epoch = self.batches[self.epoch], self.epoch + 1
        return iter(epoch)


class _InitialWeights(Callback):
    """Records the network's (and the loss's) weights as training begins."""

    def on_train_begin(self, net, **kwargs):
        self.module = {k: v.detach().numpy().copy() for k, v in net.module_.state_dict().items()}
        self.loss = {k: v.detach().numpy().copy() for k, v in net.loss_.state_dict().items()}


def open_split():
    """The open-set protocol: digits 0-4 to train on, the unseen digits 5-9 as the queries
    and the references, standardized with the training classes' statistics."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    from skdml.datasets import class_disjoint_split

    X_seen, X_unseen, y_seen, y_unseen = class_disjoint_split(*load_digits(return_X_y=True))
    scaler = StandardScaler().fit(X_seen)
    return scaler.transform(X_seen), scaler.transform(X_unseen), y_seen, y_unseen


def batch_sequence(y, seed, epochs):
    """The shared batches, shape (epochs, n_batches, batch): m per class, seeded."""
    sampler = ClassBalancedBatchSampler(y, M * len(np.unique(y)), M, random_state=seed)
    return np.array([np.stack(list(sampler)) for _ in range(epochs)])


def estimator(name, seed, epochs, n_classes, **params):
    # the plain loop and pml train on the protocol's standardized data as it is: so does the
    # estimator (its own standardization, fitted on the training part, would differ slightly)
    common = dict(max_epochs=epochs, batch_size=M * n_classes, samples_per_class=M, lr=LR,
                  random_state=seed, standardize=False, **params)
    if name == "DDML":
        return DDML(**common)
    return DeepMetricLearner(module__normalize=True, **estimator_params(name), **common)


def scores(Z_train, Z_test, split, protocol="closed"):
    """MAP@R and P@1 of the test queries: against the training set (closed set), or against
    the other test samples (open set: classes never seen in training)."""
    _, _, y_train, y_test = split
    ref = dict(X_ref=Z_train, y_ref=y_train) if protocol == "closed" else {}
    return (map_at_r(Z_test, y_test, **ref), precision_at_k(Z_test, y_test, k=1, **ref))


def run_ours(name, args, split, peer_data):
    """The plain loop and the estimator (shared batches, own sampler) for every seed."""
    X_train, X_test, y_train, _ = split
    n_classes = len(np.unique(y_train))
    entry = LOSSES[name]
    key = entry.key
    result = {c: {"cpu": [], "wall": [], "scores": []} for c in ("plain", "shared", "own")}
    result["shared"]["diff"] = []
    to_peer = peer_data if entry.pml else {}
    for seed in range(args.seeds):
        batches = batch_sequence(y_train, seed, args.epochs)
        to_peer[f"{key}__{seed}__batches"] = batches
        init = _InitialWeights()

        def plain():
            loss_fn, miner = make_loss(name, n_classes)
            loss_fn.load_state_dict({k: torch.as_tensor(v) for k, v in init.loss.items()})
            return train(init.module, entry.normalize, loss_fn, miner, batches, X_train,
                         y_train, LR, entry.weight_decay)

        def shared(callbacks=None):
            return estimator(name, seed, args.epochs, n_classes, callbacks=callbacks,
                             iterator_train__batch_sampler=_Replay(batches)).fit(X_train,
                                                                                y_train)

        fits = {"shared": shared, "plain": plain,
                "own": lambda: estimator(name, seed, args.epochs, n_classes).fit(X_train,
                                                                                 y_train)}
        fits = {c: f for c, f in fits.items() if c in args.contenders}
        # the first fit of each (warm-up unless --no-warmup) is the one scored; the estimator
        # on the shared batches goes first, to record the initial weights the others copy
        for i in range(1 + args.repeat):
            order = list(fits) if i == 0 else np.roll(list(fits), i).tolist()
            for contender in order:
                first_shared = i == 0 and contender == "shared"
                cpu, wall, model = timed(lambda: shared([init]) if first_shared
                                         else fits[contender]())
                if i > 0 or not args.warmup:
                    result[contender]["cpu"].append(cpu)
                    result[contender]["wall"].append(wall)
                if i == 0:
                    Z = (embed(model, X_train, X_test) if contender == "plain"
                         else (model.transform(X_train), model.transform(X_test)))
                    result[contender]["scores"].append(scores(*Z, split, args.protocol))
                    result[contender]["Z"] = Z
            if i == 0:
                if "plain" in fits:
                    result["shared"]["diff"].append(max(
                        float(np.abs(a - b).max())
                        for a, b in zip(result["shared"]["Z"], result["plain"]["Z"])))
                for k, v in init.module.items():
                    to_peer[f"{key}__{seed}__init__{k}"] = v
                if "weight" in init.loss:
                    to_peer[f"{key}__{seed}__class_vectors"] = init.loss["weight"]
    return result


def _mean_std(values):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.4f} ± {values.std():.4f}"


# --- --defaults: every learner and loss as a new user fits it ---------------------------------

# losses that are not metric losses on class labels (wrappers, abstract bases, the ordinal,
# transfer and image-set objectives of their own learners), with what they are instead
NOT_ON_LABELS = {
    "MetricLoss": "abstract base", "ClassLoss": "abstract base",
    "CrossBatchMemory": "wraps another loss", "LogRatioLoss": "ordinal (LogRatioLearner)",
    "ThresholdTripletLoss": "ordinal (LogRatioLearner)",
    "TransferObjective": "domain adaptation (DTML)",
    "ManifoldMarginLoss": "image sets (MMDML)",
}
MINED = {"TripletMarginLoss + SemiHardMiner": ("TripletMarginLoss", "SemiHardMiner"),
         "TripletMarginLoss + HardMiner": ("TripletMarginLoss", "HardMiner"),
         "MultiSimilarityLoss + MultiSimilarityMiner": ("MultiSimilarityLoss",
                                                        "MultiSimilarityMiner")}
CLASSICAL = ("PCA", "LDA", "NCA", "LMNN", "LFDA", "RCA", "ITML")
CURVE_LOSSES = ("ContrastiveLoss", "MultiSimilarityLoss", "ProxyAnchorLoss", "SoftTripleLoss")
CURVE_EPOCHS = (0, 1, 2, 5, 10, 20, 30)


def default_contenders():
    """``{name: make(seed)}`` for every deep learner and loss at its defaults, then the
    classical learners that fit class labels."""
    import skdml
    import skdml.deep
    import skdml.deep.losses as losses

    makers = {"DeepMetricLearner (ContrastiveLoss, its default)":
              lambda seed: DeepMetricLearner(random_state=seed)}
    for name in ("DDML", "DAML", "DVML"):
        makers[name] = lambda seed, cls=getattr(skdml.deep, name): cls(random_state=seed)
    for name in losses.__all__:
        if name in NOT_ON_LABELS or name == "ContrastiveLoss":
            continue
        makers[f"DeepMetricLearner({name})"] = (
            lambda seed, loss=getattr(losses, name): DeepMetricLearner(loss=loss,
                                                                       random_state=seed))
    for label, (loss, miner) in MINED.items():
        makers[f"DeepMetricLearner({label})"] = (
            lambda seed, loss=getattr(losses, loss), miner=getattr(skdml.deep, miner):
            DeepMetricLearner(loss=loss, miner=miner, random_state=seed))
    for name in CLASSICAL:
        cls = getattr(skdml, name)
        takes_seed = "random_state" in inspect.signature(cls).parameters
        makers[name] = (lambda seed, cls=cls, takes_seed=takes_seed:
                        cls(random_state=seed) if takes_seed else cls())
    return makers


class _Curve(Callback):
    """MAP@R of the unseen-class queries and of the training samples, before training and
    after every epoch (the network in eval mode, as ``transform`` runs it)."""

    def __init__(self, X_train, y_train, X_test, y_test):
        self.data = X_train, y_train, X_test, y_test

    def _record(self, net):
        X_train, y_train, X_test, y_test = self.data

        def embed(X):  # transform's work; the learner counts as fitted only after fit
            X = (X - net.input_mean_) / net.input_scale_
            return net.forward(X.astype(np.float32), training=False).numpy()

        self.points.append((map_at_r(embed(X_test), y_test),
                            map_at_r(embed(X_train), y_train)))

    def on_train_begin(self, net, **kwargs):
        self.points = []
        self._record(net)

    def on_epoch_end(self, net, **kwargs):
        self._record(net)


class _Residual(torch.nn.Module):
    """``f(x) = x + g(x)``, ``g`` a tanh layer whose output layer starts at zero: the
    embedding starts as the input itself (Euclidean distance) and learns a correction."""

    def __init__(self, n_features, hidden=128):
        super().__init__()
        self.g = torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.Tanh(),
                                     torch.nn.Linear(hidden, n_features))
        torch.nn.init.zeros_(self.g[2].weight)
        torch.nn.init.zeros_(self.g[2].bias)

    def forward(self, x):
        return x + self.g(x)


VARIANT_LOSSES = ("ContrastiveLoss", "ProxyAnchorLoss", "SoftTripleLoss")


def _global_scaling(X_train, X_test):
    """Centred and divided by one standard deviation for all features: the geometry of the
    unscaled pixels, at unit scale."""
    mean, std = X_train.mean(), X_train.std()
    return (X_train - mean) / std, (X_test - mean) / std


def run_variants(args):
    """What might carry over to unseen classes, and what it costs on the seen ones: the
    ``deep_open_variants`` table."""
    import skdml.deep.losses as losses
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from skdml.datasets import class_disjoint_split

    X, y = load_digits(return_X_y=True)
    protocols = {"closed": train_test_split(X, y, test_size=0.3, random_state=0, stratify=y),
                 "open": class_disjoint_split(X, y)}
    variants = {
        "defaults": ("features", {}),
        "5 epochs": ("features", {"max_epochs": 5}),
        "unscaled geometry (one scale for all pixels)": ("global", {"standardize": False}),
        "residual from the identity, unscaled geometry": (
            "global", {"standardize": False, "module": _Residual}),
    }

    def data(protocol, scaling):
        X_train, X_test, y_train, y_test = protocols[protocol]
        if scaling == "global":
            X_train, X_test = _global_scaling(X_train, X_test)
        else:
            mean, std = X_train.mean(axis=0), X_train.std(axis=0)
            std[std == 0] = 1.0
            X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
        return X_train, X_test, y_train, y_test

    rows = []
    for scaling, label in (("features", "each feature standardized"),
                           ("global", "unscaled geometry (one scale for all pixels)")):
        row = {"loss": "Euclidean (no learning)", "variant": label}
        for protocol in protocols:
            split = data(protocol, scaling)
            row[f"{protocol} MAP@R"] = f"{scores(split[0], split[1], split, protocol)[0]:.4f}"
        rows.append(row)
    for name in VARIANT_LOSSES:
        for label, (scaling, params) in variants.items():
            row = {"loss": name, "variant": label}
            for protocol in protocols:
                split = X_train, X_test, y_train, _ = data(protocol, scaling)
                maps = []
                for seed in range(args.seeds):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model = DeepMetricLearner(loss=getattr(losses, name), random_state=seed,
                                                  **params).fit(X_train, y_train)
                    maps.append(scores(model.transform(X_train), model.transform(X_test),
                                       split, protocol)[0])
                row[f"{protocol} MAP@R"] = _mean_std(maps)
            rows.append(row)
    write_table("deep_open_variants", rows, ["loss", "variant", "closed MAP@R", "open MAP@R"],
                note=("DeepMetricLearner at its defaults but for the loss and the variant; "
                      "digits, closed set: 70/30 stratified split (seed 0); open set: "
                      "class_disjoint_split (train on 0-4, retrieve among 5-9); features "
                      "scaled with the training part's statistics as the variant says; "
                      f"MAP@R mean ± std over {args.seeds} seeds"))


def run_defaults(args):
    """The ``--defaults`` tables: every learner at its defaults on both protocols, and the
    open-set learning curve."""
    import skdml.deep.losses as losses

    makers = default_contenders()
    start_run(args.threads, None, False, extra=[
        "data: digits, standardized with the training samples' statistics (deep learners "
        "standardize inside as well, which then changes next to nothing); closed set: 70/30 "
        "stratified split (seed 0), test queries against the training set; open set: train on "
        "digits 0-4 (skdml.datasets.class_disjoint_split), each query of the unseen digits "
        "5-9 against the other queries, leave one out",
        "every learner at its defaults (deep: 30 epochs, its own sampler and network), "
        f"random_state = seed for seeds 0..{args.seeds - 1}; scorer: skdml.metrics "
        "map_at_r and precision_at_k (R@1)",
    ])
    for protocol, table in (("closed", "deep_defaults"), ("open", "deep_defaults_open")):
        split = X_train, X_test, y_train, y_test = (digits_split() if protocol == "closed"
                                                    else open_split())
        raw = scores(X_train, X_test, split, protocol)
        rows = [{"learner": "Euclidean (no learning)", "MAP@R": f"{raw[0]:.4f}",
                 "R@1": f"{raw[1]:.4f}", "vs Euclidean": "+0.0000"}]
        if protocol == "open":
            from sklearn.datasets import load_digits

            X, y = load_digits(return_X_y=True)
            unscaled = scores(None, X[y >= 5], split, protocol)
            rows.append({"learner": "Euclidean on the unscaled pixels (extra)",
                         "MAP@R": f"{unscaled[0]:.4f}", "R@1": f"{unscaled[1]:.4f}",
                         "vs Euclidean": f"{unscaled[0] - raw[0]:+.4f}"})
        for name, make in makers.items():
            results, cpu = [], []
            for seed in range(args.seeds):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        t, _, model = timed(lambda: make(seed).fit(X_train, y_train))
                    results.append(scores(model.transform(X_train), model.transform(X_test),
                                          split, protocol))
                    cpu.append(t)
                except Exception as exc:  # a learner that fails at its defaults is a finding
                    results = raised(exc)
                    break
            if isinstance(results, str):
                rows.append({"learner": name, "MAP@R": results})
                print(f"  ({name}: {results})")
                continue
            maps = [r[0] for r in results]
            rows.append({"learner": name, "MAP@R": _mean_std(maps),
                         "R@1": _mean_std([r[1] for r in results]),
                         "vs Euclidean": f"{np.mean(maps) - raw[0]:+.4f}",
                         "fit CPU s": np.median(cpu)})
        write_table(table, rows, ["learner", "MAP@R", "R@1", "vs Euclidean", "fit CPU s"],
                    note=(f"{protocol} set; MAP@R and R@1: mean ± std over {args.seeds} seeds "
                          "(a single figure: the learner is deterministic); vs Euclidean: "
                          "the mean minus Euclidean distance's MAP@R on the same features; "
                          f"load average {os.getloadavg()[0]:.2f} at the end"))

    X_train, X_test, y_train, y_test = open_split()
    rows = []
    for name in CURVE_LOSSES:
        unseen, seen = [], []
        for seed in range(args.seeds):
            curve = _Curve(X_train, y_train, X_test, y_test)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                DeepMetricLearner(loss=getattr(losses, name), max_epochs=max(CURVE_EPOCHS),
                                  callbacks=[curve], random_state=seed).fit(X_train, y_train)
            unseen.append([curve.points[e][0] for e in CURVE_EPOCHS])
            seen.append([curve.points[e][1] for e in CURVE_EPOCHS])
        for label, values in (("unseen digits 5-9", unseen), ("training samples", seen)):
            values = np.array(values)
            rows.append({"loss (defaults)": name, "MAP@R of": label,
                         **{f"epoch {e}": f"{m:.3f}" for e, m in
                            zip(CURVE_EPOCHS, values.mean(axis=0))}})
    write_table("deep_open_curve", rows, ["loss (defaults)", "MAP@R of",
                                          *[f"epoch {e}" for e in CURVE_EPOCHS]], note=(
        "open set; DeepMetricLearner at its defaults but for the loss, MAP@R after each epoch "
        f"(epoch 0: the initial network), mean over {args.seeds} seeds; training samples: each "
        "against the other training samples, leave one out"))
    run_variants(args)


def main():
    parser = protocol_parser(__doc__, repeat=3)
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds (initial weights and batches), default %(default)s")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--losses", nargs="*", default=CORE,
                        choices=[*LOSSES, "new", "all"], metavar="LOSS",
                        help=f"among {', '.join(LOSSES)}; 'new': issue 17's, {NEW[0]} on "
                        f"(pml's {', '.join(PML_SLOW)} take minutes per fit at 30 epochs); "
                        f"'all' (default: {', '.join(CORE)})")
    parser.add_argument("--protocol", choices=("closed", "open"), default="closed",
                        help="closed: all ten digits, 70/30 split, test queries against the "
                        "training set; open: train on digits 0-4, queries and references "
                        "among the unseen digits 5-9 (default: %(default)s)")
    parser.add_argument("--contenders", nargs="*", default=["plain", "shared", "own"],
                        choices=["plain", "shared", "own"],
                        help="skdml's contenders (the estimator on the shared batches always "
                        "runs: it draws the initial weights); default: all")
    parser.add_argument("--defaults", action="store_true",
                        help="every deep learner and loss, and the classical learners, at "
                        "their defaults on both protocols, and the open-set learning curve")
    args = parser.parse_args()
    if args.defaults:
        with thread_settings(args.threads):
            return run_defaults(args)
    args.contenders = ["shared"] + [c for c in args.contenders if c != "shared"]
    args.losses = list(dict.fromkeys(n for name in args.losses
                                     for n in {"new": NEW, "all": LOSSES}.get(name, [name])))
    for name in list(args.losses):
        reason = missing(name)
        if reason:
            print(f"  (skipped {name}: {reason})")
            args.losses.remove(name)
    split = X_train, X_test, y_train, y_test = (digits_split() if args.protocol == "closed"
                                                else open_split())
    n_classes = len(np.unique(y_train))
    batch = M * n_classes
    start_run(args.threads, None, args.warmup, extra=[
        (f"data: digits, {len(X_train)} train / {len(X_test)} test queries"
         if args.protocol == "closed" else
         f"data: digits, open set: {len(X_train)} training samples of digits 0-4, "
         f"{len(X_test)} queries of the unseen digits 5-9, each against the other "
         "queries") + "; MLP 64-128-64 tanh, "
        f"L2-normalized output (DDML: raw); Adam lr {LR} (the network's and the loss's "
        f"parameters, class vectors and proxies too); {args.epochs} epochs; seeds "
        f"0..{args.seeds - 1}",
        f"batches: m = {M} of each of the {n_classes} classes, {batch} per batch, one index "
        "sequence per seed replayed by every contender (the estimator through "
        "iterator_train__batch_sampler)"
        + (", and the estimator with its own "
           f"ClassBalancedBatchSampler(m={M}, batch {batch})" if "own" in args.contenders
           else ""),
        "initial weights: the skdml estimator's for the seed (Xavier-uniform, zero biases; "
        "the loss's class vectors and proxies too), copied into every contender",
        "scorer: skdml.metrics map_at_r / precision_at_k, in this process for every "
        "contender, "
        + ("test queries against the training set" if args.protocol == "closed" else
           "each query of an unseen class against the other queries (leave one out)"),
        "timing: per seed "
        f"{'one untimed warm-up fit (the one scored), then ' if args.warmup else ''}"
        f"{args.repeat} timed fit{'s' if args.repeat > 1 else ''}, contenders in turn, for every "
        f"contender; fit CPU s and wall s: medians of the {args.seeds * args.repeat} timed fits",
    ])
    raw = scores(X_train, X_test, split, args.protocol)
    peer_data = {"X_train": X_train, "X_test": X_test, "y_train": y_train}
    ours = {}
    with thread_settings(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in args.losses:
            try:
                ours[name] = run_ours(name, args, split, peer_data)
            except Exception as exc:  # a loss being written: report it, go on
                ours[name] = raised(exc)
                print(f"  ({name}: {ours[name]})")
    ran = [n for n in args.losses if isinstance(ours[n], dict)]
    pml_losses = {LOSSES[n].key: LOSSES[n].pml.format(C=n_classes, D=EMBEDDING_DIM)
                  for n in ran if LOSSES[n].pml}
    peer = run_peer(PEER, threads=args.threads, data=peer_data, params={
        "losses": pml_losses, "seeds": list(range(args.seeds)), "repeat": args.repeat,
        "warmup": args.warmup, "lr": LR}) if pml_losses else None

    rows = [{"loss": "(raw features)", "contender": "no learning", "MAP@R": f"{raw[0]:.4f}",
             "P@1": f"{raw[1]:.4f}"}]
    summary = []
    for name in args.losses:
        key, res = LOSSES[name].key, ours[name]
        if not isinstance(res, dict):
            rows.append({"loss": name, "contender": "skdml", "MAP@R": res})
            summary.append({"loss": name, "skdml MAP@R": res})
            continue
        plain_cpu = np.median(res["plain"]["cpu"]) if res["plain"]["cpu"] else None
        pml = peer.cell(key) if peer is not None and LOSSES[name].pml else None
        pml_cpu = np.median(pml["cpu"]) if isinstance(pml, dict) else None

        def row(contender, batches, cpu, wall, score_list, diff=None):
            r = {"loss": name, "contender": contender, "batches": batches,
                 "MAP@R": _mean_std([s[0] for s in score_list]),
                 "P@1": _mean_std([s[1] for s in score_list]),
                 "fit CPU s": np.median(cpu), "fit wall s": np.median(wall)}
            if plain_cpu is not None:
                r["CPU / plain loop"] = np.median(cpu) / plain_cpu
            if pml_cpu is not None:
                r["CPU / pml"] = np.median(cpu) / pml_cpu
            if diff:
                r["max |Z - Z_plain|"] = f"{max(diff):.1e}"
            return r

        estimator_name = f"skdml {'DDML' if name == 'DDML' else 'DeepMetricLearner'}"
        if "plain" in args.contenders:
            rows.append(row("plain torch loop (skdml loss)", "shared", res["plain"]["cpu"],
                            res["plain"]["wall"], res["plain"]["scores"]))
        rows.append(row(estimator_name, "shared", res["shared"]["cpu"], res["shared"]["wall"],
                        res["shared"]["scores"], res["shared"]["diff"]))
        if "own" in args.contenders:
            rows.append(row(estimator_name, "own sampler", res["own"]["cpu"],
                            res["own"]["wall"], res["own"]["scores"]))
        if not LOSSES[name].pml:
            continue
        ours_map = [s[0] for s in res["shared"]["scores"]]
        line = {"loss": name, "skdml MAP@R": _mean_std(ours_map),
                "settings": LOSSES[name].papers}
        if isinstance(pml, dict):
            pml_scores = [scores(peer.arrays[f"{key}__{s}__train"],
                                 peer.arrays[f"{key}__{s}__test"], split, args.protocol)
                          for s in range(args.seeds)]
            rows.append(row("pml 2.9.0", "shared", pml["cpu"], pml["wall"], pml_scores))
            pml_map = [s[0] for s in pml_scores]
            gap = np.mean(ours_map) - np.mean(pml_map)
            noise = max(np.std(ours_map), np.std(pml_map))
            ratio = np.median(res["shared"]["cpu"]) / pml_cpu
            line.update({"pml MAP@R": _mean_std(pml_map), "gap": f"{gap:+.4f}",
                         "within noise": "yes" if abs(gap) <= max(2 * noise, 1e-3) else "NO",
                         "CPU skdml / pml": ratio,
                         "<= 1.15x": "yes" if ratio <= GOAL else "NO",
                         "skdml CPU s": np.median(res["shared"]["cpu"]),
                         "pml CPU s": pml_cpu})
        else:
            rows.append({"loss": name, "contender": "pml 2.9.0", "batches": "shared",
                         "MAP@R": pml or NOT_MEASURED})
            line["pml MAP@R"] = pml or NOT_MEASURED
        summary.append(line)
    columns = ["loss", "contender", "batches", "MAP@R", "P@1", "fit CPU s", "fit wall s",
               "CPU / plain loop", "CPU / pml", "max |Z - Z_plain|"]
    print(f"== digits retrieval ({args.protocol} set): skdml's estimators, a plain torch loop "
          "and pytorch-metric-learning, like for like")
    # the goal, pooled over the losses: the ratio of the summed medians, and the median of
    # the per-round ratios (the two fits of a round run back to back, under the same load)
    with_plain = [n for n in ran if ours[n]["plain"]["cpu"]]
    overhead = ""
    if with_plain:
        pooled = (sum(np.median(ours[n]["shared"]["cpu"]) for n in with_plain)
                  / sum(np.median(ours[n]["plain"]["cpu"]) for n in with_plain))
        paired = np.median(np.concatenate([np.divide(ours[n]["shared"]["cpu"],
                                                     ours[n]["plain"]["cpu"])
                                           for n in with_plain]))
        overhead = ("; over all the losses, the estimator on the shared batches takes "
                    f"{pooled:.3f}x the plain loop's CPU time (summed medians; median of the "
                    f"per-round ratios {paired:.3f}x; goal {GOAL}x)")
    table = "deep" if args.protocol == "closed" else "deep_open"
    write_table(table, rows, columns, note=(
        "MAP@R and P@1: mean ± std over the seeds; 'shared' batches: the same index sequence "
        "for every contender, drawn before the timing; 'own sampler': the estimator's "
        "ClassBalancedBatchSampler with the same m and batch size, its draws timed with the "
        "fit; max |Z - Z_plain|: largest embedding difference from the "
        "plain loop over the seeds; class vectors and proxies: skdml's initial ones copied "
        "into pml's loss, so that only the implementations differ" + overhead
        + ("" if peer is None or peer.measured else f"; pml {NOT_MEASURED}: {peer.reason}")))
    if summary:
        print(f"== skdml's estimator vs pytorch-metric-learning 2.9.0 ({args.protocol} set), "
              "shared batches and initial weights")
        write_table(f"{table}_vs_pml", summary, [
            "loss", "skdml MAP@R", "pml MAP@R", "gap", "within noise", "CPU skdml / pml",
            "<= 1.15x", "skdml CPU s", "pml CPU s", "settings"], note=(
            "MAP@R: mean ± std over the seeds; gap: skdml's mean minus pml's; within noise: "
            "|gap| <= 2x the larger of the two seed stds (at least 0.001); CPU: medians of the timed fits "
            "(the estimator on the shared batches; pml in its own process, after); goal "
            f"{GOAL}x; load average {os.getloadavg()[0]:.2f} at the end"))


if __name__ == "__main__":
    main()
