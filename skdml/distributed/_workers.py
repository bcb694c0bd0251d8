"""What a task sees on the workers: numba's thread count."""

from ._search import check_client

__all__ = ["worker_numba_threads"]


def _threads():
    import numba

    return numba.get_num_threads()


def worker_numba_threads(client=None):
    """numba's thread count in a task running on each worker of ``client``.

    numba's setting is per thread and defaults to ``NUMBA_NUM_THREADS`` (all cores), so a
    scikit-learn task (a grid-search fit) uses that many; start workers with
    ``NUMBA_NUM_THREADS`` equal to their ``--nthreads`` divided by the tasks they run at once
    (``LocalCluster(..., env={"NUMBA_NUM_THREADS": "1"})`` for one-thread workers) to avoid
    oversubscribing cores. skdml.distributed's own tasks set it themselves (``n_threads``).

    Parameters
    ----------
    client : distributed.Client, default=None
        ``None``: the default client.

    Returns
    -------
    threads : dict
        Worker address -> numba threads of a task there.
    """
    client = check_client(client)
    if client is None:
        raise ValueError("worker_numba_threads needs a running distributed.Client.")
    workers = list(client.scheduler_info()["workers"])
    futures = {w: client.submit(_threads, workers=[w], pure=False) for w in workers}
    return {w: f.result() for w, f in futures.items()}
