"""The Ray engine: the same worker, spread over a Ray cluster with Ray Data.

Ray is an optional extra (``pip install 'facemoji[cluster]'``) and is imported
only here. Items become a Ray Dataset; ``map_batches`` runs them through an
actor pool where each actor builds its :class:`~facemoji.batch.work.Worker`
(loads the models) once and then takes one item at a time. Actors write the
outputs and table parts themselves, so the output folder must be at the same
path on every node (a shared filesystem); the driver only gathers the small
summary rows for the progress bar and the final count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from facemoji.batch.collect import Item
from facemoji.batch.work import BatchConfig
from facemoji.errors import FacemojiError

RESULT_FIELDS = ("relpath", "kind", "status", "error", "faces")
MAX_ITEMS_PER_BLOCK = 16


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise FacemojiError("the Ray engine needs Ray: pip install 'facemoji[cluster]'") from None
    return ray


class _ItemActor:
    """One Ray actor: a worker with its models loaded once, fed batches of items."""

    config: dict = {}

    def __init__(self) -> None:
        import cv2

        from facemoji.batch.work import Worker

        cv2.setNumThreads(1)
        self.worker = Worker(self.config)

    def __call__(self, batch: dict) -> dict:
        rows = []
        for i in range(len(batch["relpath"])):
            item = Item(path=str(batch["path"][i]), relpath=str(batch["relpath"][i]), kind=str(batch["kind"][i]),
                        size=int(batch["size"][i]))
            rows.append(self.worker.run(item))
        return {k: [r.get(k) for r in rows] for k in RESULT_FIELDS}


def _actor_class(config: dict) -> type:
    """The actor class with the configuration built in (pickled with the class, not kept in the object store)."""
    return type("FacemojiBatchActor", (_ItemActor,), {"config": dict(config)})


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a HOST:PORT that nothing answers on (Ray itself keeps retrying for minutes)."""
    import socket

    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return  # let Ray judge the form
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise FacemojiError(f"cannot start or join Ray at {address} (nothing answers there: "
                            f"{e.strerror or type(e).__name__})") from None


def connect(address: str | None, num_cpus: int | None = None) -> tuple[object, bool]:
    """Join the cluster at ``address`` (``auto``, ``ray://HOST:10001``, ``HOST:6379``) or start a local Ray.

    Returns (the ray module, whether this call started or joined it and should shut it down).
    """
    ray = _import_ray()
    if ray.is_initialized():
        return ray, False
    kw: dict = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False,
                "configure_logging": True}
    try:
        if address in (None, "", "none", "local"):
            ray.init(num_cpus=num_cpus, **kw)
        else:
            if address != "auto":
                _check_reachable(address)
            ray.init(address=address, **kw)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = "a local Ray" if address in (None, "", "none", "local") else f"Ray at {address}"
        raise FacemojiError(f"cannot start or join {where} ({str(e).splitlines()[0] if str(e) else e})") from None
    return ray, True


def actor_plan(cluster_cpus: float, workers: int | None) -> tuple[int, float]:
    """How many actors and how many CPUs each asks for.

    One actor per CPU by default (one model thread each); each asks for a little less than its share so at
    least one CPU of the cluster stays free for Ray Data's own read and bookkeeping tasks, which would
    otherwise wait forever behind actors that hold every CPU.
    """
    total = max(1.0, float(cluster_cpus))
    n = max(1, int(workers) if workers else int(total))
    per = min(1.0, max(0.05, (total - 1.0) / n)) if total > 1 else 0.5 / n
    return n, round(per, 3)


def interleave(items: list[Item], actors: int, max_per_block: int = MAX_ITEMS_PER_BLOCK) -> tuple[int, list[Item]]:
    """The number of blocks and the items reordered so that block j holds items j, j + blocks, j + 2 blocks ...

    One Ray task per item costs the driver and the actors more than a small photo takes to process; a block of
    several items is one task. At least four blocks per actor keep the load even, and dealing the items out
    (instead of cutting the list, which comes videos first and largest first) spreads the long ones.
    """
    per_block = max(1, min(max_per_block, len(items) // (4 * max(1, actors))))
    blocks = max(1, -(-len(items) // per_block))
    return blocks, [it for j in range(blocks) for it in items[j::blocks]]


def run_ray(items: list[Item], config: BatchConfig, workers: int | None, address: str | None,
            on_result: Callable[[dict], None], on_start: Callable[[int], None] | None = None,
            num_cpus: int | None = None) -> None:
    """Process ``items`` with Ray Data, calling ``on_result(row)`` as each item finishes."""
    ray, owned = connect(address, num_cpus)
    try:
        from ray.data import ActorPoolStrategy, DataContext

        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)
        ctx = DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        n, per = actor_plan(ray.cluster_resources().get("CPU", 1), workers)
        n = min(n, len(items))
        blocks, ordered = interleave(items, n)
        ds = ray.data.from_items([it.to_dict() for it in ordered], override_num_blocks=blocks)
        ds = ds.map_batches(_actor_class(config.to_dict()), batch_size=1,
                            compute=ActorPoolStrategy(size=n), num_cpus=per,
                            runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        if on_start is not None:
            on_start(n)
        by_rel = {it.relpath: it for it in items}
        for row in ds.iter_rows():
            it = by_rel.get(str(row["relpath"]))
            on_result({**row, "path": it.path if it else None})
    except FacemojiError:
        raise
    except Exception as e:  # Ray's errors (an actor that cannot start, a lost node) end this run; a rerun resumes
        first = str(e).strip().splitlines()
        raise FacemojiError(f"the Ray run stopped: {type(e).__name__}: {first[-1] if first else ''} "
                            "(finished items are kept; run the same command again to go on)") from None
    finally:
        if owned:
            ray.shutdown()
