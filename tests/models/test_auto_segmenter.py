"""The machine's segmenter ("auto"): one resolver (ModelOptions.resolved) fixes
it against the device before anything is cached, loaded or recorded: the fast
family on a CPU, SAM ViT-H on a GPU; said in one line; every entry point's
default; any explicit choice overrides it."""

from __future__ import annotations

import logging

import pytest

from tam_core import models
from tam_core.errors import ConfigError
from tam_core.models import ModelOptions, clear_models, get_models, load_count
from tam_core.segmenters.auto import CPU_CHOICE, GPU_CHOICE, machine_choice


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(models, "_announced", set())
    clear_models()
    yield
    clear_models()


def test_auto_is_a_choice_of_its_own():
    auto = ModelOptions.for_segmenter("auto", device="cpu")
    assert auto.is_auto and auto.segmenter == "auto" and not ModelOptions().is_auto
    with pytest.raises(ConfigError, match="needs its architecture"):
        ModelOptions.for_segmenter("auto", sam_checkpoint="my.pth")
    with pytest.raises(ConfigError, match='"auto" alone'):
        ModelOptions(sam_type="auto")
    assert (machine_choice("cpu"), machine_choice("cuda")) == ("efficientvit_sam:l0", "sam:vit_h") == (
        CPU_CHOICE, GPU_CHOICE)


def test_resolved_fits_the_device_and_says_so_once(fresh, caplog, monkeypatch):
    import torch

    caplog.set_level(logging.INFO, logger="tam_label.segmenter")
    auto = ModelOptions.for_segmenter("auto", device="cpu", cache_dir="/tmp/w")
    cpu = auto.resolved()
    assert cpu == ModelOptions.for_segmenter("efficientvit_sam:l0", device="cpu", cache_dir="/tmp/w")
    assert auto.resolved() == cpu
    said = [r.getMessage() for r in caplog.records if r.name == "tam_label.segmenter"]
    assert said == ["segmenter: efficientvit_sam:l0 (auto on cpu: fast on a CPU; choose another with --segmenter, "
                    "the FiftyOne segmenter setting or CVAT's sam_type)"]
    monkeypatch.setattr(models, "check_device", lambda opts: torch.device("cuda", 0))
    assert ModelOptions.for_segmenter("auto", device="cuda").resolved().segmenter == "sam:vit_h"
    explicit = ModelOptions.for_segmenter("sam2:hiera_tiny", device="cuda")
    assert explicit.resolved() is explicit  # an explicit choice is never replaced


def test_get_models_resolves_before_the_cache_key(fresh, monkeypatch):
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.providers:color_models")
    before = load_count()
    got = get_models(ModelOptions.for_segmenter("auto", device="cpu"))
    assert got.options == ModelOptions.for_segmenter("efficientvit_sam:l0", device="cpu")  # the loader sees the real one
    assert get_models(ModelOptions.for_segmenter("efficientvit_sam:l0", device="cpu")) is got
    assert load_count() == before + 1


def test_run_records_name_the_resolved_segmenter(fresh):
    from operators.run_record import model_fingerprint

    auto = model_fingerprint(ModelOptions.for_segmenter("auto", device="cpu"))
    assert auto == model_fingerprint(ModelOptions.for_segmenter("efficientvit_sam:l0", device="cpu"))
    assert auto["segmenter"] == "efficientvit_sam:l0" and auto["sam_checkpoint"] == "official:efficientvit_sam_l0"


def test_fiftyone_and_cvat_default_to_auto_and_accept_overrides():
    from plugin.cvat.functions import FunctionParams
    from plugin.fiftyone.settings import ModelSettings, model_options, segmenter_menu

    assert model_options({}, ModelSettings()).is_auto
    assert model_options({"sam_type": "efficientvit_sam:xl0"}, ModelSettings()).segmenter == "efficientvit_sam:xl0"
    assert model_options({"sam_checkpoint": "tuned.pth"}, ModelSettings()).segmenter == "sam:vit_b"
    choices, chosen = segmenter_menu("auto")
    assert choices[:2] == ["auto", "vit_b"] and chosen == "auto" and "efficientvit_sam:l0" in choices
    assert segmenter_menu("vit_h")[1] == "vit_h"
    assert FunctionParams().model_options().is_auto
    assert FunctionParams(sam_type="sam2:hiera_small").model_options().segmenter == "sam2:hiera_small"
    assert FunctionParams(sam_checkpoint="tuned.pth").model_options().segmenter == "sam:vit_b"


def test_run_records_fingerprint_a_model_folder_by_its_content(tmp_path):
    from operators.run_record import model_fingerprint

    folder = tmp_path / "sam2"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    opts = ModelOptions.for_segmenter("sam2:tiny", sam_checkpoint=folder, device="cpu")
    before = model_fingerprint(opts)
    assert before["segmenter"] == "sam2:tiny" and before["sam_checkpoint"] != str(folder)
    (folder / "model.safetensors").write_bytes(b"other weights")
    assert model_fingerprint(opts)["sam_checkpoint"] != before["sam_checkpoint"]


def test_without_the_fast_package_auto_falls_back_and_an_explicit_choice_says_what_to_install(tmp_path, monkeypatch):
    from dataclasses import replace

    from tam_core.segmenters.auto import announcement
    from tam_core.segmenters.efficientvit import EFFICIENTVIT_SAM
    from tam_core.segmenters.registry import registered

    assert machine_choice("cpu", fast_installed=False) == "sam:vit_b" and machine_choice("cuda", False) == GPU_CHOICE
    assert "pip install 'tam-label[fast]'" in announcement("sam:vit_b", "cpu")
    assert EFFICIENTVIT_SAM.installed  # the test environment has every extra
    missing = replace(EFFICIENTVIT_SAM, name="evsam_missing", requires=("no_such_module_xyz",),
                      checkpoints=tuple(replace(c, family="evsam_missing", name=c.name + "_m")
                                        for c in EFFICIENTVIT_SAM.checkpoints))
    asked = []
    monkeypatch.setattr("tam_core.weights.resolve_checkpoint", lambda name, **kw: asked.append(name))
    with registered(missing):
        with pytest.raises(ConfigError) as err:
            models.load_models(ModelOptions.for_segmenter("evsam_missing:l0", device="cpu"))
    assert str(err.value) == ("the EfficientViT-SAM segmenter needs no_such_module_xyz: pip install "
                              "'tam-label[fast]' (or choose another with --segmenter)")
    assert asked == []  # before any download
