"""Whole collections of photos and videos: ``facemoji batch``.

Work is divided per item (a photo or a video file). :func:`run_batch` plans the
items (:mod:`facemoji.batch.collect`), skips the ones an earlier run finished,
and hands the rest to an engine: local worker processes
(:mod:`facemoji.batch.local`, the default) or a Ray cluster
(:mod:`facemoji.batch.ray_engine`, optional). Every engine runs the same
:class:`~facemoji.batch.work.Worker`, which writes the media outputs and the
Parquet parts described in :mod:`facemoji.batch.schema`.
"""

from facemoji.batch.collect import Item, Plan, collect, sniff
from facemoji.batch.job import BatchResult, plan_batch, run_batch
from facemoji.batch.work import BatchConfig, Worker

__all__ = ["BatchConfig", "BatchResult", "Item", "Plan", "Worker", "collect", "plan_batch", "run_batch", "sniff"]
