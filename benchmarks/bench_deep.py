"""Deep metric learning on digits: skdml's estimators, the same work in a bare torch loop, and
pytorch-metric-learning 2.9.0, like for like.

    python benchmarks/bench_deep.py [--seeds 3] [--repeat 3] [--epochs 30] [--losses ...]

Protocol, the same for every contender of a loss:

- data: digits, standardized, 70/30 stratified split (seed 0), handed to the peer as arrays;
- network: MLP 64-128-64, tanh, L2-normalized output (DDML: raw output, as in its paper);
  Adam, lr 1e-3 (DDML: weight decay 1e-4), ``--epochs`` epochs;
- batches: m-per-class, m = 12 samples of each of the 10 classes, 120 per batch (what pml's
  ``MPerClassSampler(m=12, batch_size=120)`` draws). For each seed one index sequence is
  drawn with skdml's ``ClassBalancedBatchSampler`` and every contender replays the very same
  sequence (the estimator through ``iterator_train__batch_sampler``); the estimator is also
  timed with its own sampler, same m and batch size, its own draws;
- initialization: the weights the skdml estimator draws for the seed (Xavier-uniform, zero
  biases; ArcFace's class vectors too), copied into every other contender's network;
- threads: one (``thread_settings`` here, ``run_peer`` for pml);
- scorer: ``skdml.metrics`` MAP@R and precision@1 of the test queries against the training
  set, computed in this process on the embeddings every contender returns (pml's come back
  from its process in an ``.npz``).

Contenders per loss: the plain torch loop (skdml's loss and miner objects in ``TRAIN_LOOP``,
a bare loop: the estimator's work without the estimator), the skdml estimator on the shared
batches (the same work: its embedding matches the plain loop's to round-off), the estimator
with its own sampler, and pml 2.9.0 (its own losses and miners in the very same
``TRAIN_LOOP``, in ``.venv-peers``). Losses keep each library's formula: the triplet loss
with semi-hard mining, multi-similarity and ArcFace compute the same thing in both; skdml's
contrastive loss is Hadsell's squared form, pml's the plain-distance hinge.

Timing: CPU time (``time.process_time``; the figure to trust on a loaded machine) and wall
time of each fit, from building the network to the last step. Per seed, one untimed warm-up
fit (the one scored: fits are deterministic) then ``--repeat`` timed fits; every contender
reports the median of its ``seeds x repeat`` timed fits. Goal: the estimator on the shared
batches within 1.15x the plain loop's CPU time.
"""

import copy
import math
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import (  # noqa: E402
    NOT_MEASURED, digits_split, protocol_parser, run_peer, start_run, thread_settings,
    write_table,
)

import torch  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

from skdml.deep import (  # noqa: E402
    DDML,
    ArcFaceLoss,
    ClassBalancedBatchSampler,
    ContrastiveLoss,
    DeepMetricLearner,
    GeneralizedLogisticLoss,
    MultiSimilarityLoss,
    SemiHardMiner,
    TripletMarginLoss,
)
from skdml.metrics import map_at_r, precision_at_k  # noqa: E402

M, N_CLASSES, LR, GOAL = 12, 10, 1e-3, 1.15
BATCH = M * N_CLASSES

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

# name: (key, the estimator's own parameters, skdml's loss and miner for the plain loop,
#        normalized output, weight decay, pml's counterpart or None)
LOSSES = {
    "DDML": ("ddml", None, lambda: (GeneralizedLogisticLoss(tau=3.0, beta=2.0), None),
             False, 1e-4, None),
    "contrastive": ("contrastive", dict(loss=ContrastiveLoss),
                    lambda: (ContrastiveLoss(margin=1.0), None), True, 0.0,
                    "losses.ContrastiveLoss(pos_margin=0, neg_margin=1), None"),
    "triplet+semi-hard": (
        "triplet",
        dict(loss=TripletMarginLoss, miner=SemiHardMiner, loss__margin=0.05,
             loss__squared=False, miner__margin=0.05, miner__squared=False),
        lambda: (TripletMarginLoss(margin=0.05, squared=False),
                 SemiHardMiner(margin=0.05, squared=False)), True, 0.0,
        "losses.TripletMarginLoss(margin=0.05), "
        "miners.TripletMarginMiner(margin=0.05, type_of_triplets='semihard')"),
    "multi-similarity": ("ms", dict(loss=MultiSimilarityLoss),
                         lambda: (MultiSimilarityLoss(alpha=2.0, beta=50.0, base=0.5), None),
                         True, 0.0,
                         "losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5), None"),
    "ArcFace": ("arcface", dict(loss=ArcFaceLoss),
                lambda: (ArcFaceLoss(N_CLASSES, 64, margin=0.5, scale=64.0), None), True, 0.0,
                f"losses.ArcFaceLoss({N_CLASSES}, 64, margin={math.degrees(0.5)!r}, scale=64), "
                "None"),
}

PEER = TRAIN_LOOP + r'''
import warnings

import numpy as np
from _common import attempt, peer_data, peer_save
from pytorch_metric_learning import losses, miners

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
                if prefix + "class_vectors" in data:  # ArcFace: skdml's rows, pml's columns
                    loss_fn.W.data.copy_(torch.as_tensor(data[prefix + "class_vectors"].T))
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


def batch_sequence(y, seed, epochs):
    """The shared batches, shape (epochs, n_batches, BATCH): m per class, seeded."""
    sampler = ClassBalancedBatchSampler(y, BATCH, M, random_state=seed)
    return np.array([np.stack(list(sampler)) for _ in range(epochs)])


def estimator(name, seed, epochs, **params):
    common = dict(max_epochs=epochs, batch_size=BATCH, samples_per_class=M, lr=LR,
                  random_state=seed, **params)
    if name == "DDML":
        return DDML(**common)
    return DeepMetricLearner(module__normalize=True, **LOSSES[name][1], **common)


def scores(Z_train, Z_test, split):
    _, _, y_train, y_test = split
    return (map_at_r(Z_test, y_test, X_ref=Z_train, y_ref=y_train),
            precision_at_k(Z_test, y_test, k=1, X_ref=Z_train, y_ref=y_train))


def run_ours(name, args, split, peer_data):
    """The plain loop and the estimator (shared batches, own sampler) for every seed."""
    X_train, X_test, y_train, _ = split
    key, _, make_loss, normalize, weight_decay, _ = LOSSES[name]
    result = {c: {"cpu": [], "wall": [], "scores": []} for c in ("plain", "shared", "own")}
    result["shared"]["diff"] = []
    to_peer = peer_data if LOSSES[name][5] else {}
    for seed in range(args.seeds):
        batches = batch_sequence(y_train, seed, args.epochs)
        to_peer[f"{key}__{seed}__batches"] = batches
        init = _InitialWeights()

        def plain():
            loss_fn, miner = make_loss()
            loss_fn.load_state_dict({k: torch.as_tensor(v) for k, v in init.loss.items()})
            return train(init.module, normalize, loss_fn, miner, batches, X_train, y_train,
                         LR, weight_decay)

        def shared(callbacks=None):
            return estimator(name, seed, args.epochs, callbacks=callbacks,
                             iterator_train__batch_sampler=_Replay(batches)).fit(X_train,
                                                                                y_train)

        fits = {"shared": shared, "plain": plain,
                "own": lambda: estimator(name, seed, args.epochs).fit(X_train, y_train)}
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
                    result[contender]["scores"].append(scores(*Z, split))
                    result[contender]["Z"] = Z
            if i == 0:
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


def main():
    parser = protocol_parser(__doc__, repeat=3)
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds (initial weights and batches), default %(default)s")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--losses", nargs="*", default=list(LOSSES), choices=list(LOSSES),
                        metavar="LOSS", help=f"among {', '.join(LOSSES)} (default: all)")
    args = parser.parse_args()
    split = X_train, X_test, y_train, y_test = digits_split()
    start_run(args.threads, None, args.warmup, extra=[
        f"data: digits, {len(X_train)} train / {len(X_test)} test queries; MLP 64-128-64 tanh, "
        f"L2-normalized output (DDML: raw); Adam lr {LR}; {args.epochs} epochs; seeds "
        f"0..{args.seeds - 1}",
        f"batches: m = {M} of each of the {N_CLASSES} classes, {BATCH} per batch, one index "
        "sequence per seed replayed by every contender (the estimator through "
        "iterator_train__batch_sampler), and the estimator with its own "
        f"ClassBalancedBatchSampler(m={M}, batch {BATCH})",
        "initial weights: the skdml estimator's for the seed (Xavier-uniform, zero biases), "
        "copied into every contender",
        "scorer: skdml.metrics map_at_r / precision_at_k, test queries against the training "
        "set, in this process for every contender",
        "timing: per seed "
        f"{'one untimed warm-up fit (the one scored), then ' if args.warmup else ''}"
        f"{args.repeat} timed fit{'s' if args.repeat > 1 else ''}, contenders in turn, for every "
        f"contender; fit CPU s and wall s: medians of the {args.seeds * args.repeat} timed fits",
    ])
    raw = scores(X_train, X_test, split)
    peer_data = {"X_train": X_train, "X_test": X_test, "y_train": y_train}
    ours = {}
    with thread_settings(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in args.losses:
            ours[name] = run_ours(name, args, split, peer_data)
    pml_losses = {LOSSES[n][0]: LOSSES[n][5] for n in args.losses if LOSSES[n][5]}
    peer = run_peer(PEER, threads=args.threads, data=peer_data, params={
        "losses": pml_losses, "seeds": list(range(args.seeds)), "repeat": args.repeat,
        "warmup": args.warmup, "lr": LR}) if pml_losses else None

    rows = [{"loss": "(raw features)", "contender": "no learning", "MAP@R": f"{raw[0]:.4f}",
             "P@1": f"{raw[1]:.4f}"}]
    for name in args.losses:
        key, res = LOSSES[name][0], ours[name]
        plain_cpu = np.median(res["plain"]["cpu"])
        pml = peer.cell(key) if peer is not None and LOSSES[name][5] else None
        pml_cpu = np.median(pml["cpu"]) if isinstance(pml, dict) else None

        def row(contender, batches, cpu, wall, score_list, diff=None):
            r = {"loss": name, "contender": contender, "batches": batches,
                 "MAP@R": _mean_std([s[0] for s in score_list]),
                 "P@1": _mean_std([s[1] for s in score_list]),
                 "fit CPU s": np.median(cpu), "fit wall s": np.median(wall),
                 "CPU / plain loop": np.median(cpu) / plain_cpu}
            if pml_cpu is not None:
                r["CPU / pml"] = np.median(cpu) / pml_cpu
            if diff is not None:
                r["max |Z - Z_plain|"] = f"{max(diff):.1e}"
            return r

        rows.append(row("plain torch loop (skdml loss)", "shared", res["plain"]["cpu"],
                        res["plain"]["wall"], res["plain"]["scores"]))
        rows.append(row(f"skdml {'DDML' if name == 'DDML' else 'DeepMetricLearner'}",
                        "shared", res["shared"]["cpu"], res["shared"]["wall"],
                        res["shared"]["scores"], res["shared"]["diff"]))
        rows.append(row(f"skdml {'DDML' if name == 'DDML' else 'DeepMetricLearner'}",
                        "own sampler", res["own"]["cpu"], res["own"]["wall"],
                        res["own"]["scores"]))
        if LOSSES[name][5] is None:
            continue
        if isinstance(pml, dict):
            pml_scores = [scores(peer.arrays[f"{key}__{s}__train"],
                                 peer.arrays[f"{key}__{s}__test"], split)
                          for s in range(args.seeds)]
            rows.append(row("pml 2.9.0", "shared", pml["cpu"], pml["wall"], pml_scores))
        else:
            rows.append({"loss": name, "contender": "pml 2.9.0", "batches": "shared",
                         "MAP@R": pml or NOT_MEASURED})
    columns = ["loss", "contender", "batches", "MAP@R", "P@1", "fit CPU s", "fit wall s",
               "CPU / plain loop", "CPU / pml", "max |Z - Z_plain|"]
    print("== digits retrieval: skdml's estimators, a plain torch loop and "
          "pytorch-metric-learning, like for like")
    # the goal, pooled over the losses: the ratio of the summed medians, and the median of
    # the per-round ratios (the two fits of a round run back to back, under the same load)
    pooled = (sum(np.median(ours[n]["shared"]["cpu"]) for n in args.losses)
              / sum(np.median(ours[n]["plain"]["cpu"]) for n in args.losses))
    paired = np.median(np.concatenate([np.divide(ours[n]["shared"]["cpu"],
                                                 ours[n]["plain"]["cpu"]) for n in args.losses]))
    write_table("deep", rows, columns, note=(
        "MAP@R and P@1: mean ± std over the seeds; 'shared' batches: the same index sequence "
        "for every contender, drawn before the timing; 'own sampler': the estimator's "
        "ClassBalancedBatchSampler with the same m and batch size, its draws timed with the "
        "fit; max |Z - Z_plain|: largest embedding difference from the "
        "plain loop over the seeds; over all the losses, the estimator on the shared batches "
        f"takes {pooled:.3f}x the plain loop's CPU time (summed medians; median of the "
        f"per-round ratios {paired:.3f}x; goal {GOAL}x)"
        + ("" if peer is None or peer.measured else f"; pml {NOT_MEASURED}: {peer.reason}")))


if __name__ == "__main__":
    main()
