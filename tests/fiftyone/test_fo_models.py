"""Model choice in FiftyOne: every entry point loads through the one cached
loader (tam_core.models.get_models), once per process; the App's choice comes
from the form, the plugin settings and the plugin's secrets."""

import pytest

import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService

from plugin.fiftyone import api
from plugin.fiftyone.model import TrackAnythingModel
from plugin.fiftyone.settings import PLUGIN
from tam_core.models import ModelOptions, clear_models, get_models, load_count
from tam_core.options import RunOptions
from tests.fiftyone.helpers import add_click, new_dataset, output_masks

URI = "@tam-label/track-anything/"
PARAMS = {"target": "CURRENT_VIEW", "prompt_field": "tam_prompts", "label_field": "tam_tracks"}


def _loaded_is(opts: ModelOptions) -> bool:
    """True when ``opts`` is the cached model set (asking for it loads nothing)."""
    n = load_count()
    get_models(opts)
    return load_count() == n


def test_every_entry_point_loads_the_models_once(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    add_click(s, video, 1, 0)
    clear_models()
    before = load_count()
    api.track(ds, options=RunOptions(refine=True))
    api.track(ds, options=RunOptions(refine=False, direction="forward"))  # run options never reload
    add_click(s, video, 1, 5)
    api.correct(ds)
    foo.execute_operator(URI + "track_objects", ctx={"view": ds.view(), "params": {**PARAMS, "refine": False}})
    foo.execute_operator(URI + "correct_objects", ctx={"view": ds.view(), "params": PARAMS}, request_delegation=True)
    (job,) = DelegatedOperationService().execute_queued_operations(dataset_name=ds.name)
    assert job.error is None, job.error
    ds.apply_model(TrackAnythingModel(), label_field="applied", prompt_field="frames.tam_prompts", skip_failures=False)
    assert load_count() - before == 1
    assert _loaded_is(ModelOptions.for_segmenter("auto"))  # every entry point's default: the machine's segmenter
    assert len(output_masks(s, "applied")) == 12


def test_the_app_takes_checkpoints_from_secrets_plugin_settings_and_the_form(tmp_path, monkeypatch):
    ds, (video,) = new_dataset(tmp_path)
    add_click(ds.first(), video, 1, 0)
    files = {name: tmp_path / f"{name}.pth" for name in ("sam", "xmem", "tuned")}
    for f in files.values():
        f.write_bytes(b"weights")
    cache = tmp_path / "cache"
    # Secrets (fiftyone.yml `secrets:`; environment variables in open-source FiftyOne).
    monkeypatch.setenv("TAM_LABEL_SAM_CHECKPOINT", str(files["sam"]))
    monkeypatch.setenv("TAM_LABEL_XMEM_CHECKPOINT", str(files["xmem"]))
    monkeypatch.setenv("TAM_LABEL_CACHE", str(cache))
    foo.execute_operator(URI + "track_objects", ctx={"view": ds.view(), "params": PARAMS})
    assert _loaded_is(ModelOptions(sam_checkpoint=str(files["sam"]), xmem_checkpoint=str(files["xmem"]), cache_dir=str(cache)))
    # Plugin settings of the dataset win over secrets ...
    ds.app_config.plugins[PLUGIN] = {"sam_type": "tiny", "sam_checkpoint": str(files["tuned"]), "device": "cpu"}
    ds.save()
    foo.execute_operator(URI + "track_objects", ctx={"view": ds.view(), "params": PARAMS})
    assert _loaded_is(ModelOptions(sam_type="tiny", sam_checkpoint=str(files["tuned"]), xmem_checkpoint=str(files["xmem"]),
                                   cache_dir=str(cache), device="cpu"))
    # ... and the form wins over both.
    foo.execute_operator(URI + "track_objects", ctx={"view": ds.view(), "params": {**PARAMS, "sam_type": "vit_l",
                                                                                  "sam_checkpoint": str(files["sam"])}})
    assert _loaded_is(ModelOptions(sam_type="vit_l", sam_checkpoint=str(files["sam"]), xmem_checkpoint=str(files["xmem"]),
                                   cache_dir=str(cache), device="cpu"))


@pytest.mark.parametrize("params, message", [
    ({"sam_checkpoint": "/nowhere/sam.pth"}, "no file '/nowhere/sam.pth'; give an existing one or leave blank"),
    ({"sam_type": "tiny"}, "Path: sam_type. Reason: Invalid enum value"),  # test-only: not offered by the App
])
def test_the_form_refuses_a_model_choice_that_cannot_load(tmp_path, params, message):
    ds, (video,) = new_dataset(tmp_path)
    add_click(ds.first(), video, 1, 0)
    before = load_count()
    with pytest.raises(Exception, match="Validation error") as err:
        foo.execute_operator(URI + "track_objects", ctx={"view": ds.view(), "params": {**PARAMS, **params}})
    assert message in str(err.value) and load_count() == before
    assert not ds.has_frame_field("tam_tracks")


@pytest.mark.parametrize("refine", [True, False])
def test_refine_is_exactly_the_run_option_at_every_entry_point(tmp_path, monkeypatch, refine):
    """api._run used to replace options.refine with the model choice's; the
    operator form's checkbox and apply_model's options are used as given too."""
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.providers:recording_models")
    ds, (video,) = new_dataset(tmp_path)
    add_click(ds.first(), video, 1, 0)
    expected = list(range(1, 12)) if refine else []  # every tracked frame after the keyframe, or none
    models = get_models(ModelOptions.for_segmenter("auto"))  # the cached set every entry point below uses
    models.refiner.calls.clear()
    api.track(ds, options=RunOptions(direction="forward", refine=refine))
    assert models.refiner.calls == expected
    models.refiner.calls.clear()
    foo.execute_operator(URI + "track_objects", ctx={"view": ds.view(), "params": {
        **PARAMS, "direction": "forward", "refine": refine}})
    assert models.refiner.calls == expected
    models.refiner.calls.clear()
    ds.apply_model(TrackAnythingModel(options=RunOptions(direction="forward", refine=refine)), label_field="tam_tracks",
                   prompt_field="frames.tam_prompts", skip_failures=False)
    assert models.refiner.calls == expected
