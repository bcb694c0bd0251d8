"""Scale-out: sharded and out-of-core exact search, dask transform (optional extra).

``pip install skdml[distributed]`` installs dask and distributed. The estimators use this
package themselves when given a dask array -- every learner's ``transform`` (``predict``,
``decision_function``) maps it lazily chunk by chunk, and
:class:`~skdml.hashing.HammingNeighbors` and :class:`~skdml.neighbors.KernelNeighbors` fitted
on one keep its shards on the workers -- so the functions below are for code that wants them
directly. ``import skdml`` never imports this package; the out-of-core functions
(:func:`chunked_hamming_knn`, :func:`chunked_knn`) need only NumPy and are imported eagerly,
the dask ones on first access, with a clear error when dask is missing.

- :func:`sharded_hamming_knn`, :func:`sharded_knn`: exact top-k over a gallery held as a dask
  array on the workers (each shard searched where it lives, exact merge by global index).
- :func:`chunked_hamming_knn`, :func:`chunked_knn`: exact top-k over a memory-mapped (or zarr,
  h5py) gallery, memory bounded by ``chunk_size``.
- :func:`dask_transform`: any fitted learner's ``transform`` over a dask array, chunk by chunk.
- :func:`fit_data_parallel`: a deep learner trained data-parallel over several processes
  (torch DDP, gloo on CPU, nccl on GPUs), the loss curve of single-process training.
- :func:`worker_numba_threads`: numba's thread count as seen by a task on each worker.

Grid search and cross-validation need nothing from here: any skdml learner runs inside
``GridSearchCV`` under ``joblib.parallel_backend("dask")`` (see the "Scaling out" page).
"""

from ._outofcore import chunked_hamming_knn, chunked_knn

__all__ = [
    "chunked_hamming_knn",
    "chunked_knn",
    "dask_transform",
    "fit_data_parallel",
    "sharded_hamming_knn",
    "sharded_knn",
    "worker_numba_threads",
]

_LAZY = {
    "sharded_hamming_knn": "._search",
    "sharded_knn": "._search",
    "dask_transform": "._transform",
    "fit_data_parallel": "._deep",
    "worker_numba_threads": "._workers",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        try:
            module = importlib.import_module(_LAZY[name], __name__)
        except ImportError as exc:
            if _LAZY[name] == "._deep":
                raise
            raise ImportError(
                f"skdml.distributed.{name} needs dask: pip install 'skdml[distributed]' "
                f"(dask[array] and distributed). ({exc})"
            ) from exc
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
