"""operators.track then operators.correct on the real engine (seeded XMem +
tiny SAM, default refinement): a correction rewrites only the corrected
object's span and leaves every other stored label exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest

from operators.correct import correct
from operators.interfaces import MemorySink
from operators.track import track
from tam_core.models import ModelOptions, load_models
from tam_core.options import RunOptions
from tam_core.types import Prompt
from tam_core.video import open_video

from .conftest import NUM_FRAMES, click_on



class LoggingSink(MemorySink):
    """MemorySink that also logs (frame, object ids) of every result written."""

    def __init__(self):
        super().__init__()
        self.log: list[tuple[int, tuple[int, ...]]] = []

    def write(self, results):
        self.log += [(r.frame, r.object_ids) for r in results]
        super().write(results)


@pytest.mark.slow  # > 3 s on the 2-core CPU (pytest --durations)
def test_correction_keeps_other_labels(checkpoints, video):
    models = load_models(ModelOptions(sam_type="tiny", sam_checkpoint=checkpoints.sam,
                                      xmem_checkpoint=checkpoints.xmem, device="cpu"))
    frames = open_video(video.frames)
    x, y = click_on(video, 8, 3)
    prompts = [Prompt(2, 1, mask=video.mask(2, 1)),
               Prompt(8, 3, points=np.array([[x, y]]), point_labels=np.array([1]))]
    opts = RunOptions(direction="forward", batch_size=3)
    sink = LoggingSink()
    report = track(frames, prompts, sink, models, opts)
    # forward: object 1 from its keyframe 2 on, object 3 from 8 on, nothing before
    assert sink.log == [(t, (1,)) for t in range(2, 8)] + [(t, (1, 3)) for t in range(8, NUM_FRAMES)]
    assert report.frames_written == NUM_FRAMES - 2
    before = {t: {o: m.copy() for o, m in objs.items()} for t, objs in sink.masks.items()}

    fix = video.mask(5, 1)
    sink.log.clear()
    report = correct(frames, prompts + [Prompt(5, 1, mask=fix)], [(1, 5)], sink, models, opts)
    assert sink.log == [(t, (1,)) for t in range(5, NUM_FRAMES)]  # object 1's new span only
    assert report.frames_written == NUM_FRAMES - 5
    assert np.array_equal(sink.masks[5][1], fix)
    for t, objs in before.items():
        for o, m in objs.items():
            if o == 1 and t >= 5:
                continue  # the corrected span
            assert np.array_equal(sink.masks[t][o], m), (t, o)
