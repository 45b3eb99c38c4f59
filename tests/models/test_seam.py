"""The one seam for models and options: ``tam_core.models.get_models`` is the
only cached loader and ``ModelOptions`` its only key; run options
(``tam_core.options.RunOptions``) never change what is loaded, and
``RunOptions(refine=False)`` never refines."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from operators.correct import correct
from operators.interfaces import MemorySink
from operators.track import track
from tam_core.errors import ConfigError
from tam_core.models import Models, ModelOptions, clear_models, get_models, load_count
from tam_core.options import RunOptions
from tam_core.types import Prompt
from tests.doubles import ArrayFrames
from tests.synthetic import make_video

T = 12


@pytest.fixture
def video():
    return make_video(num_frames=T, size=(48, 64))


@pytest.fixture
def provider(monkeypatch):
    """Use a provider from tests/providers.py; the cache starts empty."""

    def use(name: str = "color_models") -> None:
        monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", f"tests.providers:{name}")
        clear_models()

    yield use
    clear_models()


def click(video, oid: int, frame: int) -> Prompt:
    ys, xs = np.nonzero(video.mask(frame, oid))
    i = len(ys) // 2
    return Prompt(frame=frame, object_id=oid, points=np.array([[xs[i], ys[i]]], float), point_labels=np.array([1]))


def test_run_options_never_reach_the_cache(provider, video):
    """Four tracking runs that differ only in run options load the models once."""
    provider()
    before = load_count()
    seen = []
    for run in (RunOptions(), RunOptions(refine=False), RunOptions(direction="forward"), RunOptions(batch_size=3)):
        models = get_models(ModelOptions(device="cpu"))
        track(ArrayFrames(video.frames), [click(video, 1, 0)], MemorySink(), models, run)
        seen.append(models)
    assert load_count() - before == 1
    assert all(m is seen[0] for m in seen)


def test_other_model_options_load_again_and_keep_one_set(provider):
    provider()
    before = load_count()
    a = get_models(ModelOptions(sam_type="vit_b"))
    b = get_models(ModelOptions(sam_type="vit_l"))
    assert a is not b and b.options.sam_type == "vit_l"
    assert get_models(ModelOptions(sam_type="vit_l")) is b
    a2 = get_models(ModelOptions(sam_type="vit_b"))  # only one set is kept: vit_b was dropped
    assert a2 is not a
    assert load_count() - before == 3


def test_one_file_by_any_spelling_is_one_load(provider, tmp_path, monkeypatch):
    """A checkpoint or cache folder given as str or Path, relative or absolute,
    is the same weights: loaded once. Another file loads again."""
    provider()
    (tmp_path / "sam.pth").write_bytes(b"x")
    (tmp_path / "other.pth").write_bytes(b"y")
    monkeypatch.chdir(tmp_path)
    before = load_count()
    a = get_models(ModelOptions(sam_type="tiny", sam_checkpoint=str(tmp_path / "sam.pth"), cache_dir=str(tmp_path)))
    for ckpt, cache in ((tmp_path / "sam.pth", tmp_path), ("sam.pth", "."), ("./sam.pth", f"{tmp_path}/")):
        assert get_models(ModelOptions(sam_type="tiny", sam_checkpoint=ckpt, cache_dir=cache)) is a
    assert load_count() - before == 1
    b = get_models(ModelOptions(sam_type="tiny", sam_checkpoint="other.pth", cache_dir=str(tmp_path)))
    assert b is not a and load_count() - before == 2


def test_concurrent_callers_share_one_load(provider):
    provider("slow_color_models")
    before = load_count()
    out: list = []
    threads = [threading.Thread(target=lambda: out.append(get_models(ModelOptions()))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 6 and all(m is out[0] for m in out)
    assert load_count() - before == 1


def test_get_models_takes_only_model_options(provider):
    provider()
    with pytest.raises(ConfigError, match="not RunOptions"):
        get_models(RunOptions(refine=False))


def test_provider_errors_are_one_line_config_errors(provider, monkeypatch):
    provider("incomplete_models")
    with pytest.raises(ConfigError, match="returned models without device"):
        get_models(ModelOptions())
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.no_such_module:fn")
    with pytest.raises(ConfigError, match="cannot be imported"):
        get_models(ModelOptions())


def test_loaded_models_satisfy_the_protocol(provider):
    provider()
    assert isinstance(get_models(ModelOptions()), Models)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sam_type="vit_x"), "unknown SAM model type 'vit_x'"),
        (dict(sam_type="tiny"), "give its checkpoint file"),
        (dict(autocast="fp8"), "unknown autocast 'fp8'"),
    ],
)
def test_model_options_are_checked_when_built(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelOptions(**kwargs)


@pytest.mark.parametrize("refine, expected", [(True, list(range(1, T))), (False, [])])
def test_track_refines_exactly_when_the_run_says_so(provider, video, refine, expected):
    provider("recording_models")
    models = get_models(ModelOptions())
    track(ArrayFrames(video.frames), [click(video, 1, 0)], MemorySink(), models,
          RunOptions(direction="forward", refine=refine))
    assert models.refiner.calls == expected  # every tracked frame after the keyframe, or none


@pytest.mark.parametrize("refine, expected", [(True, list(range(7, T))), (False, [])])
def test_correct_refines_exactly_when_the_run_says_so(provider, video, refine, expected):
    provider("recording_models")
    models = get_models(ModelOptions())
    frames, sink = ArrayFrames(video.frames), MemorySink()
    prompts = [click(video, 1, 0), click(video, 1, 6)]
    track(frames, prompts, sink, models, RunOptions(direction="forward", refine=False))
    assert models.refiner.calls == []
    correct(frames, prompts, [(1, 6)], sink, models, RunOptions(direction="forward", refine=refine))
    assert models.refiner.calls == expected  # only the re-tracked span 6..11, after its keyframe


def test_refinement_has_one_switch_and_it_is_a_run_option():
    from dataclasses import fields

    from tam_core.refinement import RefineOptions

    assert "enabled" not in {f.name for f in fields(RefineOptions)}
    assert not {"refine", "xmem_config"} & {f.name for f in fields(ModelOptions)}
    with pytest.raises(TypeError):
        ModelOptions(refine=RefineOptions())


def test_per_run_thresholds_and_memory_settings_never_reload_and_take_effect(provider, video):
    """Refinement thresholds, the quality calibration and XMem's memory
    settings are RunOptions: changing them reuses the loaded models, and each
    run gets its own (the tracker factory and the refiner take them per call)."""
    from tam_core.refinement import RefineOptions
    from tam_core.trackers.xmem import XMemConfig

    provider("refining_color_models")
    frames, prompts = ArrayFrames(video.frames), [Prompt(0, 1, mask=video.mask(0, 1))]
    strict = RefineOptions(confidence_bad=0.97, confidence_ok=0.99)  # the doubles' 0.95 now scores 0
    runs = [
        RunOptions(direction="forward"),
        RunOptions(direction="forward", refine_options=strict, xmem_config=XMemConfig(top_k=5)),
        RunOptions(direction="forward", refine_options=RefineOptions(confidence_bad=0.97, confidence_ok=0.99,
                                                                     quality_threshold=0.0),
                   xmem_config=XMemConfig(mem_every=2)),
    ]
    before = load_count()
    out = []
    for run in runs:
        models = get_models(ModelOptions(device="cpu"))
        predicted = models.segmenter.predict_calls
        sink = MemorySink()
        track(frames, prompts, sink, models, run)
        out.append((models, sink, models.segmenter.predict_calls - predicted))
    assert load_count() - before == 1 and all(m is out[0][0] for m, _, _ in out)
    factory = out[0][0].tracker_factory
    assert factory.configs == [run.xmem_config for run in runs]  # each run's memory settings reached its tracker
    tracked = [(t, 1) for t in range(1, T)]
    assert min(out[0][1].quality[k] for k in tracked) > RefineOptions().quality_threshold  # nothing to refine
    assert [out[1][1].quality[k] for k in tracked] == [0.0] * len(tracked)  # the calibration took effect
    # default threshold 0.5: every frame scoring 0 was tried with SAM; threshold 0: none was
    assert out[0][2] == 0 and out[1][2] == T - 1 and out[2][2] == 0
