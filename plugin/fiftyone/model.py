"""A FiftyOne model for ``apply_model`` on video collections::

    model = TrackAnythingModel()                      # or TrackAnythingModel(models=...)
    dataset.apply_model(model, label_field="tam_tracks", prompt_field="frames.tam_prompts")

Like FiftyOne's SAM 2 video model it returns one ``Detections`` per frame
(FiftyOne then stores them with ``add_labels``, replacing that field's frame
labels). Use ``plugin.fiftyone.api.track`` to keep user-made detections in the
output field and for corrections.
"""

from __future__ import annotations

from typing import Any

import fiftyone.core.models as fom

from operators.prompts import object_labels
from operators.track import TrackOptions, track

from .api import field_name, read_prompts
from .convert import mask_to_detection
from .models import ModelChoice, get_models


class _DictSink:
    """Collects Detections per FiftyOne frame number."""

    def __init__(self, labels):
        self.labels = labels
        self.frames: dict[int, dict[int, Any]] = {}

    def write(self, results):
        for res in results:
            objs = self.frames.setdefault(res.frame + 1, {})
            for oid in res.object_ids:
                det = mask_to_detection(res.masks[oid], oid, self.labels.get(oid), res.quality.get(oid, 1.0), oid in res.refined)
                if det is None:
                    objs.pop(oid, None)
                else:
                    objs[oid] = det

    def close(self):
        pass


class TrackAnythingModel(fom.Model, fom.SamplesMixin):
    """SAM + XMem tracking as a FiftyOne video model (``prompt_field`` required)."""

    def __init__(self, model_choice: ModelChoice = ModelChoice(), options: TrackOptions = TrackOptions(), models: Any = None):
        fom.SamplesMixin.__init__(self)
        self.model_choice = model_choice
        self.options = options
        self._models = models

    @property
    def media_type(self):
        return "video"

    @property
    def ragged_batches(self):
        return False

    @property
    def transforms(self):
        return None

    @property
    def preprocess(self):
        return False

    @preprocess.setter
    def preprocess(self, value):
        pass

    def predict(self, video_reader, sample=None):
        import fiftyone as fo

        from tam_core.errors import ConfigError
        from tam_core.video import open_video

        pf = (self.needs_fields or {}).get("prompt_field")
        if not pf:
            raise ConfigError("pass prompt_field='frames.<field>' to apply_model (the frame field holding your prompts)")
        with open_video(sample.filepath) as video:
            prompts = read_prompts(sample, field_name(pf), video.size)
            if not prompts:
                return {}
            sink = _DictSink(object_labels(prompts))
            track(video, prompts, sink, self._models or get_models(self.model_choice), self.options)
        return {fn: fo.Detections(detections=sorted(d.values(), key=lambda x: x.index)) for fn, d in sorted(sink.frames.items())}
