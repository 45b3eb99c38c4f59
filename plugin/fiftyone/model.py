"""A FiftyOne model for ``apply_model`` on video collections::

    model = TrackAnythingModel(label_field="tam_tracks")    # or models=..., options=RunOptions(...)
    dataset.apply_model(model, label_field="tam_tracks", prompt_field="frames.tam_prompts")
    dataset.apply_model(model, label_field="tam_tracks",     # clicks and boxes in two fields
                        prompt_field="frames.clicks", box_field="frames.boxes")

Every keyword argument of ``apply_model`` (FiftyOne's ``needs_fields``) names
a prompt field. Each video is tracked exactly as ``api.track`` tracks it (the
same per-sample runner writes ``frames.<label_field>``: your own detections in
that field stay, a re-run replaces only what tam-label wrote), and ``predict``
returns that field's resulting frame labels, which FiftyOne then stores again
unchanged. Give the model the ``label_field`` you give ``apply_model``.
Models come from ``tam_core.models.get_models`` (loaded once per process).
"""

from __future__ import annotations

import fiftyone.core.models as fom

from tam_core.errors import ConfigError
from tam_core.models import MACHINE_DEFAULT, ModelOptions, Models
from tam_core.options import RunOptions

from .api import DEFAULT_LABEL_FIELD, SampleReport, run_sample
from .prompt_reader import check_prompt_fields, field_name


class TrackAnythingModel(fom.Model, fom.SamplesMixin):
    """SAM + XMem tracking as a FiftyOne video model (a prompt field is required).

    model_options: what to load (ignored when ``models`` is given);
    options: how to run, used as given; label_field: the output frame field,
    the same as ``apply_model``'s ``label_field``.
    """

    def __init__(self, model_options: ModelOptions = MACHINE_DEFAULT, options: RunOptions = RunOptions(),
                 models: Models | None = None, label_field: str = DEFAULT_LABEL_FIELD):
        fom.SamplesMixin.__init__(self)
        self.model_options = model_options
        self.options = options
        self.label_field = field_name(label_field)
        self._models = models
        self.reports: list[SampleReport] = []  # one per video predicted

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
        """{FiftyOne frame number: Detections} of ``label_field`` after tracking ``sample``."""
        fields = tuple((self.needs_fields or {}).values())
        if not fields:
            raise ConfigError("pass prompt_field='frames.<field>' to apply_model (the frame field holding your prompts)")
        full = sample._dataset[sample.id]  # apply_model's sample holds only the prompt fields
        fields = check_prompt_fields(full._dataset, fields)
        report = run_sample(full, fields, self.label_field, self._models, self.model_options, self.options)
        self.reports.append(report)
        if report.report is None:
            return {}
        full.reload()
        return {fn: frame[self.label_field] for fn, frame in full.frames.items() if frame[self.label_field] is not None}


__all__ = ["TrackAnythingModel"]
