"""plugin/cli/model_args.py: the model flags every command shares."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from plugin.cli.model_args import add_model_args, model_options, run_options
from tam_core.errors import CheckpointError, ConfigError
from tam_core.models import ModelOptions
from tam_core.options import RunOptions

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str, alias: bool = False) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cmd")
    p.add_argument("--direction", default="both")
    p.add_argument("--batch-size", type=int, default=16)
    add_model_args(p, deprecated_sam_alias=alias)
    return p.parse_args(list(argv))


def test_defaults_are_the_option_types_defaults_but_the_machines_segmenter():
    args = parse()
    assert model_options(args) == ModelOptions.for_segmenter("auto")  # resolved when loading, not when parsing
    assert run_options(args) == RunOptions()
    assert model_options(parse("--segmenter", "sam:vit_b")) == ModelOptions()
    assert model_options(parse("--segmenter", "auto")).is_auto
    assert model_options(parse("--sam-type", "vit_l")).segmenter == "sam:vit_l"


def test_the_cli_says_the_machines_choice_in_one_line(monkeypatch, capsys, tmp_path):
    """The line comes when the models load (a dry run never looks at the device)."""
    from plugin.cli import main
    from tam_core import models

    monkeypatch.setattr(models, "_announced", set())
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.providers:color_models")
    assert main(["weights", "list", "--cache-dir", str(tmp_path)]) == 0  # installs the line's handler
    capsys.readouterr()
    models.get_models(model_options(parse("--device", "cpu")))
    models.get_models(model_options(parse("--device", "cpu")))
    assert capsys.readouterr().err.splitlines() == [
        "tam-label: segmenter: efficientvit_sam:l0 (auto on cpu: fast on a CPU; choose another with --segmenter, "
        "the FiftyOne segmenter setting or CVAT's sam_type)"]
    models.clear_models()


def test_a_bare_sam_checkpoint_still_means_sam_vit_b(tmp_path):
    (tmp_path / "s.pth").write_bytes(b"")
    assert model_options(parse("--sam-checkpoint", str(tmp_path / "s.pth"))).segmenter == "sam:vit_b"


def test_every_flag_lands_in_its_field(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("s.pth", "x.pth"):
        (tmp_path / name).write_bytes(b"")
    args = parse("--sam-type", "tiny", "--sam-checkpoint", "s.pth", "--xmem-checkpoint", "x.pth",
                 "--cache-dir", str(tmp_path), "--offline", "--device", "cuda:1", "--bf16", "--no-refine",
                 "--direction", "forward", "--batch-size", "3")
    assert model_options(args) == ModelOptions(sam_type="tiny", sam_checkpoint="s.pth", xmem_checkpoint="x.pth",
                                               cache_dir=str(tmp_path), download=False, device="cuda:1", autocast="bf16")
    assert run_options(args) == RunOptions(direction="forward", refine=False, batch_size=3)
    assert run_options(args, batch_size=1, refine=True) == RunOptions(direction="forward", refine=True, batch_size=1)
    assert model_options(parse("--fp16")).autocast == "fp16"


def test_run_options_use_defaults_when_the_command_has_no_run_flags():
    p = argparse.ArgumentParser()
    add_model_args(p)
    assert run_options(p.parse_args(["--no-refine"])) == RunOptions(refine=False)


def test_fp16_and_bf16_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        parse("--fp16", "--bf16")
    assert "not allowed with argument" in capsys.readouterr().err


def test_unknown_sam_type_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        parse("--sam-type", "vit_x")
    assert "invalid choice: 'vit_x'" in capsys.readouterr().err


def test_tiny_without_checkpoint_is_a_config_error_not_a_load():
    with pytest.raises(ConfigError, match="--sam-checkpoint"):
        model_options(parse("--sam-type", "tiny"))


def test_sam_alias_only_where_asked_and_hidden(capsys):
    assert parse("--sam", "vit_h", alias=True).sam_type == "vit_h"
    assert "--sam is deprecated; use --sam-type" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("--sam", "vit_h")
    p = argparse.ArgumentParser()
    add_model_args(p, deprecated_sam_alias=True)
    text = p.format_help()
    assert "--sam-type" in text and "--sam " not in text and "--sam," not in text


def test_parsing_imports_neither_torch_nor_cv2():
    code = ("import sys; from plugin.cli import build_parser; build_parser().parse_args(['cvat', 'track', '--server', 'x', "
            "'--task', '1']); print(sorted(m for m in ('torch', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("flag", ["--sam-checkpoint", "--xmem-checkpoint"])
def test_a_missing_or_folder_checkpoint_is_refused_before_loading(tmp_path, flag):
    with pytest.raises(CheckpointError, match=f"checkpoint file not found: .*nope.pth \\({flag}\\)"):
        model_options(parse(flag, str(tmp_path / "nope.pth")))
    with pytest.raises(CheckpointError, match="is a folder"):
        model_options(parse(flag, str(tmp_path)))


MODEL_FLAGS = ["--sam-type", "--sam-checkpoint", "--xmem-checkpoint", "--cache-dir", "--offline", "--device",
               "--fp16", "--bf16", "--no-refine"]


def _commands(parser: argparse.ArgumentParser, name: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                yield from _commands(p, f"{name} {sub}".strip())
    yield name, parser


def _flag(parser: argparse.ArgumentParser, flag: str):
    (a,) = [a for a in parser._actions if flag in a.option_strings]
    return type(a).__name__, a.dest, a.default, a.choices, a.const, a.help


def test_every_command_that_loads_models_has_the_same_model_flags():
    from plugin.cli import build_parser

    commands = {n: p for n, p in _commands(build_parser()) if any("--sam-type" in a.option_strings for a in p._actions)}
    assert sorted(commands) == ["cvat agent", "cvat fix", "cvat track", "demo", "track"]
    reference = {f: _flag(commands["track"], f) for f in MODEL_FLAGS}
    assert reference["--sam-type"][3] == ("vit_b", "vit_l", "vit_h", "tiny")
    for name, p in commands.items():
        assert {f: _flag(p, f) for f in MODEL_FLAGS} == reference, name
        assert any("--sam" in a.option_strings for a in p._actions) == (name in ("cvat track", "cvat fix")), name


def test_a_hugging_face_model_folder_is_a_checkpoint_other_folders_are_not(tmp_path):
    hf = tmp_path / "sam2_tiny"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    assert model_options(parse("--segmenter", "sam2:tiny", "--sam-checkpoint", str(hf))).sam_checkpoint == str(hf)
    with pytest.raises(CheckpointError, match="is a folder without config.json; pass the .pth file inside it"):
        model_options(parse("--sam-checkpoint", str(tmp_path)))
