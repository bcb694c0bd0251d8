"""Cross-batch memory: a pair or triplet loss over the batch and the embeddings of past
batches."""

import warnings

import torch

from .._tuples import all_pairs, as_pairs, as_triplets
from ._base import MetricLoss, _check_int, _zero
from ._pair import ContrastiveLoss


class CrossBatchMemory(MetricLoss):
    r"""Cross-batch memory (XBM): a pair or triplet loss whose batch also meets the
    embeddings of the last ``memory_size`` training samples.

    The memory is a first-in, first-out queue of past embeddings (detached: no gradient
    reaches them) and their labels. For a batch ``B`` and the memory ``M`` as it stood
    before the batch, the wrapped ``loss`` is computed on the concatenation
    ``[B; M]`` with the pairs whose first element (the anchor) is a batch row:

    - batch-batch pairs: every pair of the batch, or the ``tuples`` a miner gave;
    - batch-memory pairs: every one of them, positive (same label) and negative.

    No pair starts in the memory, so the terms and the wrapped loss's reducer, penalty and
    embedding regularizer (on the batch's embeddings) are those of a batch of anchors
    with a much larger pool of partners. After a training step (the module in training
    mode), the batch is pushed into the memory, the oldest entries making room; in
    evaluation mode the memory is read but left as it is, so validation batches never
    enter it.

    This is how the wrapper works with any loss of the :class:`MetricLoss` API, unchanged:
    a loss's ``compute`` only ever sees embeddings, labels and pairs (triplets for a
    triplet loss: every positive pair with every negative pair of its anchor). The memory
    is held in buffers: it moves with ``.to(device)``, is saved in ``state_dict`` and
    pickles, and is not a parameter. The wrapped loss is a submodule, so its parameters,
    if any, are trained.

    Parameters
    ----------
    loss : MetricLoss instance or class, default=ContrastiveLoss()
        The pair or triplet loss to wrap (a class is built with its defaults). Losses
        with learned class vectors and tuple-free losses are refused.
    embedding_dim : int
        Width of the embeddings; set from the data by a
        :class:`~skdml.deep.DeepMetricLearner` when the class is given as its ``loss``.
    memory_size : int, default=1024
        How many past embeddings the memory holds.

    Attributes
    ----------
    memory_embeddings : Tensor of shape (memory_size, embedding_dim)
    memory_labels : LongTensor of shape (memory_size,)
        The memory's storage (a ring: see :meth:`memory` for its content in order).
    memory_seen : LongTensor, 0-d
        How many embeddings have entered the memory so far.

    Notes
    -----
    The paper's reference code adds two losses: the batch with itself, and the batch
    against the memory into which the batch was pushed first (so its partners there are
    detached copies). Here one loss covers the batch-batch pairs (with gradients at both
    ends) and the batch-memory pairs (with the memory as it stood before the batch): the
    same kinds of pair, not the same sums, and MAP@R differs from
    pytorch-metric-learning's wrapper by a few thousandths on digits (the deep
    benchmark). Terms that a loss gives per row are kept for the batch's rows only. The
    memory starts empty, so
    the first steps are plain batch steps (the paper also waits for the embedding's
    early drift to slow down before using it; this wrapper does not). A learner given
    the class builds a fresh memory at each ``fit``; given an instance, it keeps the
    instance, memory included, as it keeps a module instance's weights
    (:meth:`reset_memory` empties it). The wrapped loss computes its distances over the
    whole ``[B; M]``, a cost in ``(|B| + |M|)^2`` unless it computes only its anchors'
    rows (the multi-similarity loss does: ``|B| (|B| + |M|)``).

    References
    ----------
    X. Wang, H. Zhang, W. Huang and M. R. Scott, "Cross-batch memory for embedding
    learning", CVPR 2020.

    Examples
    --------
    >>> import torch
    >>> from skdml.deep.losses._batch import SupConLoss
    >>> from skdml.deep.losses._memory import CrossBatchMemory
    >>> xbm = CrossBatchMemory(SupConLoss(), embedding_dim=2, memory_size=3)
    >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> value = xbm(x, torch.tensor([0, 0, 1, 1]))
    >>> xbm.memory()[1]  # the last 3 labels pushed, oldest first
    tensor([0, 1, 1])
    """

    tuple_kind = None
    needs_positive_pairs = False

    def __init__(self, loss=None, embedding_dim=None, memory_size=1024):
        torch.nn.Module.__init__(self)  # distance, reducer, regularizer: the wrapped loss's
        if loss is None:
            loss = ContrastiveLoss()
        elif isinstance(loss, type) and issubclass(loss, MetricLoss):
            loss = loss()
        if (not isinstance(loss, MetricLoss) or isinstance(loss, CrossBatchMemory)
                or loss.tuple_kind not in ("pair", "triplet")):
            raise ValueError(
                "CrossBatchMemory wraps a pair or triplet loss (a MetricLoss with "
                f"tuple_kind 'pair' or 'triplet', e.g. ContrastiveLoss()), got {loss!r}."
            )
        if embedding_dim is None:
            raise ValueError(
                "CrossBatchMemory needs embedding_dim, the width of the embeddings it "
                "stores (a DeepMetricLearner sets it when given the class)."
            )
        self.loss = loss
        self.embedding_dim = _check_int(embedding_dim, "embedding_dim", "CrossBatchMemory")
        self.memory_size = _check_int(memory_size, "memory_size", "CrossBatchMemory")
        self.register_buffer("memory_embeddings",
                             torch.zeros(self.memory_size, self.embedding_dim))
        self.register_buffer("memory_labels", torch.zeros(self.memory_size, dtype=torch.long))
        self.register_buffer("memory_seen", torch.zeros((), dtype=torch.long))

    @property
    def distance(self):
        return self.loss.distance

    @property
    def reducer(self):
        return self.loss.reducer

    @property
    def embedding_regularizer(self):
        return self.loss.embedding_regularizer

    def memory(self):
        """``(embeddings, labels)`` in the memory, oldest first."""
        seen = int(self.memory_seen)
        if seen <= self.memory_size:
            return self.memory_embeddings[:seen], self.memory_labels[:seen]
        order = torch.arange(seen, seen + self.memory_size,
                             device=self.memory_labels.device) % self.memory_size
        return self.memory_embeddings[order], self.memory_labels[order]

    def reset_memory(self):
        """Empty the memory."""
        self.memory_seen.zero_()

    @torch.no_grad()
    def enqueue(self, embeddings, labels):
        """Push a batch into the memory (its last ``memory_size`` rows when larger)."""
        embeddings, labels = embeddings[-self.memory_size:], labels[-self.memory_size:]
        if self.memory_embeddings.dtype != embeddings.dtype:
            self.memory_embeddings = self.memory_embeddings.to(embeddings.dtype)
        seen = int(self.memory_seen)
        slots = torch.arange(seen, seen + len(labels),
                             device=self.memory_labels.device) % self.memory_size
        self.memory_embeddings[slots] = embeddings.detach().to(self.memory_embeddings.device)
        self.memory_labels[slots] = labels.to(self.memory_labels)
        self.memory_seen += len(labels)

    def _check_batch(self, embeddings, labels):
        super()._check_batch(embeddings, labels)
        if embeddings.shape[1] != self.embedding_dim:
            raise ValueError(
                f"CrossBatchMemory was built for embeddings of width {self.embedding_dim}, "
                f"got {embeddings.shape[1]}."
            )

    def pairs(self, labels, memory_labels, tuples=None):
        """The pairs of ``[batch; memory]`` the wrapped loss sees: ``(a1, p, a2, n)`` with
        ``a1``, ``a2`` batch rows (indices into the concatenation)."""
        batch = all_pairs(labels) if tuples is None else as_pairs(tuples)
        same = labels[:, None] == memory_labels[None, :]
        a1, p = torch.nonzero(same, as_tuple=True)
        a2, n = torch.nonzero(~same, as_tuple=True)
        offset = len(labels)
        return (torch.cat([batch[0], a1]), torch.cat([batch[1], p + offset]),
                torch.cat([batch[2], a2]), torch.cat([batch[3], n + offset]))

    def forward(self, embeddings, labels, tuples=None):
        self._check_batch(embeddings, labels)
        memory_x, memory_y = self.memory()
        x = torch.cat([embeddings, memory_x.to(embeddings)])
        y = torch.cat([labels, memory_y.to(labels)])
        pairs = self.pairs(labels, memory_y.to(labels), tuples)
        tuples = pairs if self.loss.tuple_kind == "pair" else as_triplets(pairs)
        if self.loss.needs_positive_pairs and len(pairs[0]) == 0:
            warnings.warn(
                "CrossBatchMemory: no sample of the batch shares its class with another "
                "sample of the batch or of the memory, so the loss is 0 for it.",
                UserWarning, stacklevel=2,
            )
            loss = _zero(embeddings)
        elif sum(len(t) for t in tuples) == 0:
            loss = _zero(embeddings)
        else:
            terms = self.loss.compute(x, y, tuples)
            if isinstance(terms, tuple):
                # terms of memory rows (a loss with one term per row) are not the batch's
                values, anchors = terms
                keep = anchors < len(embeddings)
                loss = self.reducer(values[keep], anchors[keep])
            else:
                loss = self.reducer(terms)
            loss = loss + self.loss.penalty(x, y, tuples)
            if self.embedding_regularizer is not None:
                loss = loss + self.embedding_regularizer(embeddings)
        if self.training:
            self.enqueue(embeddings, labels)
        return loss

    def extra_repr(self):
        return f"embedding_dim={self.embedding_dim}, memory_size={self.memory_size}"
