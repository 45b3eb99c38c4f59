"""How the track/correct operators run: one delegated job per video (so
several ``fiftyone delegated launch`` workers share a dataset), and progress
for immediate runs.

Scale-out: :func:`queue_per_video` queues one delegated operation per video
of a view, each pinned to its one sample. FiftyOne hands a queued operation
to exactly one worker (it moves QUEUED -> RUNNING atomically), so N workers on
N GPUs label N videos at a time, each video once. A job writes its video's
frames in batches, each frame atomically, and marks each tracker run done in
the video's job record (``<label_field>_job``, ``operators.resume``) once
written; a worker killed mid-job leaves that video with complete old-or-new
frames and its job "running": mark it failed and re-run it (``fiftyone
delegated fail ID``, ``fiftyone delegated rerun ID``): the re-run keeps the
tracker runs finished before the kill and tracks the rest, giving exactly
the labels of an uninterrupted run.
"""

from __future__ import annotations

import asyncio
import os
import queue
from typing import Any, AsyncIterator, Callable

Report = Callable[[float, str], None]  # (fraction done, label)


def queue_per_video(ctx: Any, view: Any, operator_uri: str, params: dict) -> list[str]:
    """Queue ``operator_uri`` once per sample of ``view`` (params as given,
    target = that one sample of the dataset, so a job still finds its video
    when the view's filters no longer match it). Returns the delegated
    operation ids."""
    from fiftyone.operators.delegated import DelegatedOperationService

    from .api import DEFAULT_LABEL_FIELD
    from .sink import ensure_job_field

    ensure_job_field(view._dataset, params.get("label_field") or DEFAULT_LABEL_FIELD)  # declared once, before workers race
    service = DelegatedOperationService()
    ids = []
    for sid, path in zip(*view.values(["id", "filepath"])):
        request = {k: v for k, v in ctx.request_params.items() if k not in ("selected", "current_sample", "params")}
        job_params = {**params, "target": "CURRENT_VIEW"}
        request.update(dataset_name=view._dataset.name, view=view._dataset.select(sid)._serialize(), delegated=True,
                       params=job_params)
        op = service.queue_operation(operator=operator_uri, label=f"Track Anything: {os.path.basename(path)}",
                                     context={"request_params": request, "params": job_params},
                                     delegation_target=getattr(ctx, "delegation_target", None))
        ids.append(str(op.id))
    return ids


async def with_progress(ctx: Any, job: Callable[[Report], Any], finish: Callable[[Any], list]) -> AsyncIterator:
    """Run ``job(report)`` in a worker thread and yield the App's
    ``set_progress`` for each ``report(fraction, label)`` it makes (the event
    loop stays free meanwhile), then whatever ``finish(result)`` returns
    (notifications, reloads). The job's exception is raised here."""
    events: queue.Queue = queue.Queue()
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, job, lambda frac, label: events.put((frac, label)))
    while True:
        done = future.done()  # before draining: every report of a finished job is then queued
        while not events.empty():
            frac, label = events.get_nowait()
            yield ctx.ops.set_progress(label=label, progress=frac)
        if done:
            break
        await asyncio.sleep(0.05)
    try:
        result = future.result()
    except Exception as exc:
        # A stream that just stops counts as success in the App: say it failed
        # (a notification and the stream's error line), then raise as usual.
        yield ctx.ops.notify(str(exc), variant="error")
        yield _failure(str(exc))
        raise
    for message in finish(result):
        yield message


def _failure(message: str):
    """The generator stream's error line: the App reads a top-level ``error``
    and treats the run as failed (no on_success)."""
    from fiftyone.operators.executor import ExecutionResult
    from fiftyone.operators.message import GeneratedMessage, MessageType

    class Failure(GeneratedMessage):
        def to_json(self):
            return {**super().to_json(), "error": message}

    return Failure(MessageType.ERROR, cls=ExecutionResult, body=None)


__all__ = ["queue_per_video", "with_progress"]
