"""Model providers for the FiftyOne tests and the App server / delegated
workers they start (``TAM_LABEL_MODEL_PROVIDER=tests.fiftyone.providers:...``):
the deterministic color doubles of tests/providers.py. Colors survive H.264
within the doubles' tolerance, so they track the synthetic clips' objects.

``observed_models`` also makes what happens in another process visible to a
test: with ``TAM_TEST_EVENTS=FILE`` it appends one line per event to FILE
(``<pid> load``, ``<pid> decode <frame>``, ``<pid> tracker`` when a
tracking pass starts, ``<pid> step``), and with
``TAM_TEST_STEP_DELAY=SECONDS`` every tracker step takes that long (a job a
test can kill midway).

``killing_models`` (test-only, for the kill -9 resume proof): like
``observed_models``, and with ``TAM_TEST_KILL_AFTER_WRITES=N`` the process
sends itself SIGKILL right after the N-th ``FrameDetectionsSink.write`` of
the process returned, i.e. with exactly N batches in the database: a kill at
a deterministic point, with no chance to clean up.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from tam_core.models import ModelOptions
from tests.providers import ColorModels, color_models

__all__ = ["color_models", "event_lines", "killing_models", "observed_models"]


def _event(what: str) -> None:
    path = os.environ.get("TAM_TEST_EVENTS")
    if path:
        with open(path, "a") as f:
            f.write(f"{os.getpid()} {what}\n")


def event_lines(path) -> list[tuple[int, str]]:
    """(pid, event) lines written so far to a TAM_TEST_EVENTS file."""
    try:
        text = open(path).read()
    except FileNotFoundError:
        return []
    return [(int(p), e) for p, _, e in (line.partition(" ") for line in text.splitlines() if line)]


class _ObservedTracker:
    def __init__(self, tracker, delay: float):
        self._tracker, self._delay = tracker, delay

    def __getattr__(self, name):
        return getattr(self._tracker, name)

    def step(self, *args, **kwargs):
        _event("step")
        if self._delay:
            time.sleep(self._delay)
        return self._tracker.step(*args, **kwargs)


class _ObservedFactory:
    def __init__(self, factory, delay: float):
        self._factory, self._delay = factory, delay

    def __call__(self, config=None):
        _event("tracker")
        return _ObservedTracker(self._factory(config), self._delay)


def _observe_decodes() -> None:
    """Log every frame decoded through ``tam_core.video.open_video`` in this process (once installed)."""
    import tam_core.video as tv

    if getattr(tv.open_video, "_observed", False):
        return
    original = tv.open_video

    def open_video(*args, **kwargs):
        video = original(*args, **kwargs)
        get = type(video).__getitem__

        class Observed(type(video)):
            def __getitem__(self, i):
                _event(f"decode {i}")
                return get(self, i)

        video.__class__ = Observed
        return video

    open_video._observed = True
    tv.open_video = open_video


def observed_models(opts: ModelOptions) -> ColorModels:
    """Provider: the color doubles, logging loads, decodes and tracker steps (see the module doc)."""
    _event("load")
    _observe_decodes()
    base = color_models(opts)
    delay = float(os.environ.get("TAM_TEST_STEP_DELAY") or 0)
    return replace(base, tracker_factory=_ObservedFactory(base.tracker_factory, delay))


def killing_models(opts: ModelOptions) -> ColorModels:
    """Provider: :func:`observed_models`, plus SIGKILL after ``TAM_TEST_KILL_AFTER_WRITES`` sink writes (module doc)."""
    after = int(os.environ.get("TAM_TEST_KILL_AFTER_WRITES") or 0)
    if after:
        import signal
        import sys

        writes = []

        def killing(write):
            def killing_write(self, results):
                write(self, results)
                writes.append(len(results))
                if len(writes) >= after:
                    os.kill(os.getpid(), signal.SIGKILL)

            killing_write._killing = True
            return killing_write

        # FiftyOne imports the plugin from its folder under a module name of its own: patch every copy.
        for module in list(sys.modules.values()):
            cls = getattr(module, "FrameDetectionsSink", None)
            if isinstance(cls, type) and cls.__module__ == getattr(module, "__name__", None) \
                    and not getattr(cls.write, "_killing", False):
                cls.write = killing(cls.write)
    return observed_models(opts)


def color_concepts(opts):
    """``TAM_LABEL_CONCEPT_PROVIDER`` double (``tam_core.concepts.load``): the
    phrase "ball" finds the synthetic clip's object 1 (tracker id 0), "box"
    its objects 2 and 3 (tracker ids 1, 2), by color."""
    from tests.doubles import ColorConceptFactory
    from tests.synthetic import make_video

    colors = make_video(num_frames=1).colors
    return ColorConceptFactory({"ball": {0: colors[1]}, "box": {1: colors[2], 2: colors[3]}})
