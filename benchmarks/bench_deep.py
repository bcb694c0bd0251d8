"""Deep metric learning on digits: DDML and DeepMetricLearner against pytorch-metric-learning.

Protocol (../shared/ANCHORS.md): digits, standardized, 70/30 stratified split (seed 0), MLP
64-128-64 tanh, Adam lr 1e-3, 30 epochs, batch 128; retrieval of the test queries against the
training set: precision@1 and MAP@R (skdml.metrics). Torch runs on one thread for every
contender (``torch.set_num_threads(1)``): for a network this small one thread is faster, and
it keeps the figures stable on a shared 2-core machine, where torch's spinning OpenMP threads
slow down by two orders of magnitude when the cores are busy.

Speed target: the skdml estimator's training time within 1.5x of a plain torch loop doing the
same work (same network, loss, optimizer, class-balanced batches), measured in this run.
The peer, pytorch-metric-learning 2.9.0, runs in .venv-peers (``make peers``; it needs
``pip install torch==2.13.0 pytorch-metric-learning`` there), with its own AccuracyCalculator.
"""

import time

import torch
from _common import best_time, digits_split, print_table, run_peer
from torch import nn

from skdml.deep import (
    DDML,
    ArcFaceLoss,
    ClassBalancedBatchSampler,
    ContrastiveLoss,
    DeepMetricLearner,
    MultiSimilarityLoss,
    SemiHardMiner,
    TripletMarginLoss,
)
from skdml.metrics import map_at_r, precision_at_k

EPOCHS, BATCH, SEED = 30, 128, 0
TAU, BETA, WEIGHT_DECAY, LR = 3.0, 2.0, 1e-4, 1e-3

# From ../shared/ANCHORS.md, shown only when the peer cannot run here.
ANCHOR_FIGURES = {
    "contrastive": (0.883, 0.9796, 1.1),
    "triplet+semi-hard": (0.919, 0.9778, 2.3),
    "multi-similarity": (0.896, None, None),
    "ArcFace": (0.816, None, None),
}


def retrieval(Z_train, y_train, Z_test, y_test):
    return (
        map_at_r(Z_test, y_test, X_ref=Z_train, y_ref=y_train),
        precision_at_k(Z_test, y_test, k=1, X_ref=Z_train, y_ref=y_train),
    )


def plain_torch_ddml(X, y, seed=SEED):
    """DDML written as a bare torch loop: same network, loss, optimizer and batches."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(X.shape[1], 128), nn.Tanh(), nn.Linear(128, 64), nn.Tanh())
    for layer in net:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y)
    sampler = ClassBalancedBatchSampler(y, BATCH, random_state=seed)
    for _ in range(EPOCHS):
        for idx in sampler:
            xb, yb = Xt[idx], yt[idx]
            z = net(xb)
            sq = (z * z).sum(1)
            d2 = (sq[:, None] + sq[None, :] - 2 * z @ z.T).clamp_min(0)
            sign = (yb[:, None] == yb[None, :]).float() * 2 - 1
            off_diagonal = ~torch.eye(len(yb), dtype=torch.bool)
            loss = nn.functional.softplus((1 - sign * (TAU - d2))[off_diagonal], beta=BETA).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return lambda A: net(torch.as_tensor(A, dtype=torch.float32)).detach().numpy()


def ours():
    normalized = {"module__normalize": True}
    return {
        "DDML": DDML(random_state=SEED),
        "contrastive": DeepMetricLearner(loss=ContrastiveLoss, random_state=SEED, **normalized),
        "triplet+semi-hard": DeepMetricLearner(
            loss=TripletMarginLoss, miner=SemiHardMiner, loss__margin=0.05,
            loss__squared=False, miner__margin=0.05, miner__squared=False,
            random_state=SEED, **normalized,
        ),
        "multi-similarity": DeepMetricLearner(loss=MultiSimilarityLoss, random_state=SEED),
        "ArcFace": DeepMetricLearner(loss=ArcFaceLoss, random_state=SEED),
    }


PEER = r"""
import json, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
from torch import nn
torch.set_num_threads(1)
from _common import digits_split
from pytorch_metric_learning import losses, miners
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

Xtr, Xte, ytr, yte = digits_split()
Xtr_t, Xte_t = (torch.as_tensor(a, dtype=torch.float32) for a in (Xtr, Xte))
ytr_t, yte_t = torch.as_tensor(ytr), torch.as_tensor(yte)

def run(make_loss, make_miner=None):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 64), nn.Tanh())
    loss_fn = make_loss()
    miner = make_miner() if make_miner else None
    params = list(net.parameters()) + list(loss_fn.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(30):
        perm = torch.randperm(len(Xtr_t), generator=gen)
        for i in range(0, len(perm), 128):
            idx = perm[i:i + 128]
            z = net(Xtr_t[idx])
            tuples = miner(z, ytr_t[idx]) if miner else None
            loss = loss_fn(z, ytr_t[idx], tuples)
            opt.zero_grad(); loss.backward(); opt.step()
    seconds = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        zq, zr = net(Xte_t), net(Xtr_t)
    acc = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"))
    res = acc.get_accuracy(zq, yte_t, zr, ytr_t, ref_includes_query=False)
    return [res["mean_average_precision_at_r"], res["precision_at_1"], seconds]

out = {
    "contrastive": run(losses.ContrastiveLoss),
    "triplet+semi-hard": run(losses.TripletMarginLoss,
                             lambda: miners.TripletMarginMiner(type_of_triplets="semihard")),
    "multi-similarity": run(losses.MultiSimilarityLoss),
    "ArcFace": run(lambda: losses.ArcFaceLoss(10, 64)),
}
print(json.dumps(out))
"""


def main():
    torch.set_num_threads(1)
    Xtr, Xte, ytr, yte = digits_split()
    print(f"digits: {len(Xtr)} train / {len(Xte)} test, {EPOCHS} epochs, batch {BATCH}, "
          "torch threads 1\n")
    raw = retrieval(Xtr, ytr, Xte, yte)

    t_plain, embed = best_time(lambda: plain_torch_ddml(Xtr, ytr), repeat=3)
    plain = retrieval(embed(Xtr), ytr, embed(Xte), yte)
    t_ddml, model = best_time(lambda: DDML(random_state=SEED).fit(Xtr, ytr), repeat=3)

    print("DDML: the skdml estimator against a plain torch loop doing the same work")
    print_table(
        [
            {"run": "raw features", "MAP@R": raw[0], "P@1": raw[1]},
            {"run": "plain torch loop", "MAP@R": plain[0], "P@1": plain[1],
             "train s": t_plain},
            dict(zip(["run", "MAP@R", "P@1", "train s"], ["skdml DDML", *retrieval(
                model.transform(Xtr), ytr, model.transform(Xte), yte), t_ddml])),
        ],
        ["run", "MAP@R", "P@1", "train s"],
    )
    print(f"time ratio skdml / plain torch: {t_ddml / t_plain:.2f} (target <= 1.5)\n")

    peer = run_peer(PEER)
    label = "pml 2.9.0 (this run)"
    if peer is None:
        peer = {k: list(v) for k, v in ANCHOR_FIGURES.items()}
        label = "pml 2.9.0 (from ANCHORS, not this run)"
    rows = []
    for name, est in ours().items():
        start = time.perf_counter()
        est.fit(Xtr, ytr)
        seconds = time.perf_counter() - start
        m, p1 = retrieval(est.transform(Xtr), ytr, est.transform(Xte), yte)
        row = {"loss": name, "MAP@R": m, "P@1": p1, "train s": seconds}
        if name in peer:
            pm, pp, ps = peer[name]
            row.update({"peer MAP@R": pm, "peer P@1": pp, "peer s": ps,
                        "MAP@R ratio": m / pm, "time ratio": seconds / ps if ps else None})
        rows.append(row)
    print(f"skdml DeepMetricLearner against {label}")
    print_table(rows, ["loss", "MAP@R", "P@1", "train s", "peer MAP@R", "peer P@1", "peer s",
                       "MAP@R ratio", "time ratio"])


if __name__ == "__main__":
    main()
