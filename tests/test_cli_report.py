"""`videoae plot`, `videoae weights` and `videoae report` on a real (tiny) run folder."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from videoae.cli import main
from videoae.models import build_model
from videoae.models.checkpoint import load_model, read_checkpoint, save_checkpoint
from videoae.reporting.run_figures import encoder_input_weights, output_weights

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    assert err.startswith("videoae: error: ") and err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


class _Images(HTMLParser):
    """The src of every <img>, and every other src/href, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes.get("src", ""))
        elif "src" in attributes or "href" in attributes:
            self.links.append(attributes.get("src") or attributes.get("href"))


def parse(page: str) -> _Images:
    parser = _Images()
    parser.feed(page)
    return parser


# -- plot ------------------------------------------------------------------------------------------


def test_plot_writes_the_curves_into_the_run_folder_by_default(run_copy, capsys):
    demo_figure = run_copy / "training_curves.png"  # the demo's own, drawn with its own title
    demo_figure.write_bytes(PNG_MAGIC + b"the demo's")
    code, out, _ = run(capsys, "plot", run_copy)
    target = run_copy / "plot.png"
    assert code == 0 and str(target) in out
    with Image.open(target) as image:
        assert image.format == "PNG" and image.width >= 800
    assert demo_figure.read_bytes() == PNG_MAGIC + b"the demo's"


def test_plot_to_a_chosen_file(trained_run, tmp_path, capsys):
    target = tmp_path / "sub" / "curves.png"
    assert run(capsys, "plot", trained_run, "-o", target)[0] == 0
    assert target.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("command", ["plot", "report"])
def test_a_missing_run_folder_is_one_line(command, tmp_path, capsys):
    code, _, err = run(capsys, command, tmp_path / "nope")
    assert_one_line_error(code, err, "does not exist")


@pytest.mark.parametrize("command", ["plot", "report"])
def test_a_folder_without_metrics_is_one_line(command, tmp_path, capsys):
    code, _, err = run(capsys, command, tmp_path)
    assert_one_line_error(code, err, "metrics.jsonl")
    assert not (tmp_path / "plot.png").exists() and not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("command", ["plot", "report"])
def test_an_output_path_that_is_a_folder_is_one_line(command, trained_run, tmp_path, capsys):
    code, _, err = run(capsys, command, trained_run, "-o", tmp_path)
    assert_one_line_error(code, err, "folder")


@pytest.mark.parametrize(
    ("command", "target", "message"),
    [
        ("report", "checkpoints/last.safetensors", "ending in .html"),
        ("plot", "checkpoints/best.safetensors", "ending in .png"),
        ("report", "checkpoints/page.html", "holds a run's checkpoints"),
        ("weights", "checkpoints/w.png", "holds a run's checkpoints"),
    ],
)
def test_no_command_writes_over_or_among_the_runs_checkpoints(command, target, message, run_copy, capsys):
    before = {p.name: p.read_bytes() for p in (run_copy / "checkpoints").iterdir()}
    code, _, err = run(capsys, command, run_copy, "-o", run_copy / target)
    assert_one_line_error(code, err, message)
    assert {p.name: p.read_bytes() for p in (run_copy / "checkpoints").iterdir()} == before


@pytest.mark.parametrize("command", ["plot", "report"])
def test_a_run_folder_named_like_mathtext_is_drawn_as_written(command, trained_run, tmp_path, capsys):
    odd = Path(shutil.copytree(trained_run, tmp_path / "math$\\foo{$"))
    assert run(capsys, command, odd)[0] == 0


def test_plot_skips_a_line_cut_short_by_a_crash(run_copy, capsys):
    with open(run_copy / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 13, "loss": 4')
    assert run(capsys, "plot", run_copy)[0] == 0


HUGE = "1" + "0" * 5000  # past Python's limit of 4,300 digits for int(str)
LARGE = "1" + "0" * 400  # an int that float() cannot hold


@pytest.mark.parametrize("command", ["plot", "report"])
def test_log_lines_past_pythons_limits_are_skipped_not_fatal(run_copy, capsys, command):
    lines = [
        f'{{"step": {HUGE}, "loss": 1}}',  # digits past the limit
        "[" * 100_000 + "]" * 100_000,  # nesting past the recursion limit
        f'{{"step": {LARGE}, "loss": 1}}',  # a step no run reaches
        '{"step": "13", "loss": 1}',  # not a count of steps
        f'{{"step": 14, "loss": {LARGE}, "lr": "fast", "seq_per_s": [1]}}',  # values that are not plottable numbers
    ]
    with open(run_copy / "metrics.jsonl", "a") as handle:
        handle.write("\n".join(lines) + "\n")
    (run_copy / "eval.json").write_text(f'{{"prediction": {{"bce": {LARGE}, "mse": {HUGE}}}}}')
    (run_copy / "config.json").write_text(f'{{"model": {{"hidden_size": {HUGE}}}}}')
    code, out, _ = run(capsys, command, run_copy)
    assert code == 0 and "wrote" in out


# -- weights ---------------------------------------------------------------------------------------


def test_the_weights_shown_are_the_first_layers_gate_rows_and_the_readout_columns(trained_run):
    model = load_model(trained_run)
    hidden = model.config.hidden_size
    weight_ih = model.encoder.layers[0].weight_ih.detach().numpy()
    np.testing.assert_array_equal(encoder_input_weights(model, "cell"), weight_ih[2 * hidden : 3 * hidden])
    np.testing.assert_array_equal(encoder_input_weights(model, "input"), weight_ih[:hidden])
    weights, decoder = output_weights(model)
    np.testing.assert_array_equal(weights, model.predictor.readout.weight.detach().numpy().T)
    assert weights.shape == (hidden, 64 * 64) and decoder == "future predictor"


def test_a_convlstm_models_weights_are_its_kernels_in_pixel_space(tmp_path, capsys):
    torch.manual_seed(0)
    model = build_model("conv-small", kernel_size=3)  # 32 channels, 3x3 kernels on 4x4 patches
    kernels = encoder_input_weights(model, "cell")
    assert kernels.shape == (32, 12, 12)
    weight = model.encoder.layers[0].input_conv.weight.detach()  # (4C, 16, 3, 3)
    channel, patch_row, patch_col, row, col = 5, 1, 2, 3, 1  # pixel (row, col) of patch (patch_row, patch_col)
    expected = weight[2 * 32 + channel, row * 4 + col, patch_row, patch_col].item()
    assert kernels[channel, patch_row * 4 + row, patch_col * 4 + col] == pytest.approx(expected)
    painted, decoder = output_weights(model)
    assert painted.shape == (32, 4, 4) and decoder == "future predictor"
    path = save_checkpoint(tmp_path / "conv.safetensors", model, step=0)
    code, out, _ = run(capsys, "weights", path, "-o", tmp_path / "conv.png")
    assert code == 0 and (tmp_path / "conv.png").is_file()


def test_weights_draws_both_panels_into_one_png_by_default(trained_run, tmp_path, capsys):
    both, single = tmp_path / "both.png", tmp_path / "input.png"
    code, out, _ = run(capsys, "weights", trained_run, "-o", both)
    assert code == 0 and str(both) in out
    assert run(capsys, "weights", trained_run / "checkpoints" / "last.safetensors", "-o", single, "--layer", "input")[0] == 0
    with Image.open(both) as two, Image.open(single) as one:
        # Two stacked panels: about twice as tall as one, as wide.
        assert two.height > 1.8 * one.height and two.width >= one.width


def test_weights_tiles_and_gate_change_the_picture(trained_run, tmp_path, capsys):
    pictures = {}
    for name, options in {"cell": [], "forget": ["--gate", "forget"], "four": ["--tiles", "4"]}.items():
        path = tmp_path / f"{name}.png"
        assert run(capsys, "weights", trained_run, "-o", path, "--layer", "input", *options)[0] == 0
        with Image.open(path) as image:
            pictures[name] = np.asarray(image.convert("RGB"))
    assert not np.array_equal(pictures["cell"], pictures["forget"])
    assert not np.array_equal(pictures["cell"], pictures["four"])


def test_weights_of_a_model_on_flat_feature_frames_is_one_line(tmp_path, capsys):
    checkpoint = save_checkpoint(tmp_path / "flat.safetensors", build_model("tiny", frame_shape=(32,)), step=0)
    code, _, err = run(capsys, "weights", checkpoint, "-o", tmp_path / "w.png")
    assert_one_line_error(code, err, "[32]", "no picture")
    assert not (tmp_path / "w.png").exists()


def test_weights_of_a_damaged_checkpoint_is_one_line(trained_run, tmp_path, capsys):
    damaged = tmp_path / "cut.safetensors"
    damaged.write_bytes((trained_run / "checkpoints" / "last.safetensors").read_bytes()[:1000])
    code, _, err = run(capsys, "weights", damaged, "-o", tmp_path / "w.png")
    assert_one_line_error(code, err, "damaged")


@pytest.mark.parametrize("bad", ["folder", "not-png", "no-tiles"])
def test_weights_bad_arguments_are_one_line(bad, trained_run, tmp_path, capsys):
    out, options = {"folder": (tmp_path, []), "not-png": (tmp_path / "w.jpg", []), "no-tiles": (tmp_path / "w.png", ["--tiles", "0"])}[bad]
    code, _, err = run(capsys, "weights", trained_run, "-o", out, *options)
    assert_one_line_error(code, err)


# -- report ----------------------------------------------------------------------------------------


def test_report_is_one_self_contained_page_with_the_runs_pictures(run_copy, tmp_path, capsys):
    target = tmp_path / "report.html"
    code, out, _ = run(capsys, "report", run_copy, "-o", target)
    assert code == 0 and str(target) in out
    page = target.read_text()
    found = parse(page)
    # training curves, per-frame scores (the last evaluation has per-frame values), the sample GIF
    assert len(found.images) == 3
    assert all(src.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for src in found.images)
    assert any(src.startswith("data:image/gif") for src in found.images)
    assert found.links == [] and "<link" not in page and "url(" not in page
    assert [p.name for p in tmp_path.iterdir()] == ["report.html", "run"]  # no temporary file left


def test_report_states_the_last_evaluation_with_units_and_the_checkpoint_steps(run_copy, capsys):
    assert run(capsys, "report", run_copy)[0] == 0
    page = (run_copy / "report.html").read_text()
    records = [json.loads(line) for line in (run_copy / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if "eval" in r][-1]
    assert f"{last['eval']['prediction']['bce']:.1f}" in page
    assert f"{last['eval']['baselines']['copy_last']['mse']:.1f}" in page
    assert "baseline: blank frame (every pixel 0, the background)" in page
    assert f"{last['eval']['baselines']['blank']['mse']:.1f}" in page
    assert '<p class="verdict">verdict: ' in page  # which baselines the prediction beats, in words
    assert "nats per frame" in page and "at step " + str(last["step"]) in page
    for name in ("best", "last"):
        step = read_checkpoint(run_copy / "checkpoints" / f"{name}.safetensors", load_optimizer=False).step
        assert f'<code>{name}</code>: step</td><td class="num">{step}</td>' in page


def test_report_prefers_eval_json_and_then_draws_the_per_frame_plot_from_it(run_copy, capsys):
    last = [json.loads(line) for line in (run_copy / "metrics.jsonl").read_text().splitlines() if '"eval"' in line][-1]
    evaluation = json.loads(json.dumps(last["eval"]))
    evaluation["prediction"]["bce"] = 1234.5
    evaluation["prediction"]["per_frame"]["bce"] = [1234.5] * len(evaluation["prediction"]["per_frame"]["bce"])
    (run_copy / "eval.json").write_text(json.dumps({**evaluation, "checkpoint": "best-of-the-run"}))
    assert run(capsys, "report", run_copy)[0] == 0
    page = (run_copy / "report.html").read_text()
    assert "1234.5" in page and "best-of-the-run" in page and "Prediction quality per predicted frame" in page


def test_report_escapes_what_comes_from_the_run_folder(trained_run, tmp_path, capsys):
    folder = Path(shutil.copytree(trained_run, tmp_path / 'run<b id="x">&'))
    config = json.loads((folder / "config.json").read_text())
    config["train"]["data"] = "<script>alert(1)</script>"
    (folder / "config.json").write_text(json.dumps(config))
    assert run(capsys, "report", folder, "-o", tmp_path / "r.html")[0] == 0
    page = (tmp_path / "r.html").read_text()
    assert "<script>" not in page and '<b id="x">' not in page
    assert "&lt;script&gt;" in page and "run&lt;b id=&quot;x&quot;&gt;&amp;" in page


def test_report_of_a_run_with_a_damaged_checkpoint_is_one_line(run_copy, tmp_path, capsys):
    best = run_copy / "checkpoints" / "best.safetensors"
    best.write_bytes(best.read_bytes()[:500])
    code, _, err = run(capsys, "report", run_copy, "-o", tmp_path / "r.html")
    assert_one_line_error(code, err, "damaged", "best.safetensors")
    assert not (tmp_path / "r.html").exists()


def test_report_replaces_an_existing_page_only_when_it_succeeds(run_copy, tmp_path, capsys):
    target = tmp_path / "r.html"
    target.write_text("previous")
    (run_copy / "checkpoints" / "last.safetensors").write_bytes(b"garbage")
    assert run(capsys, "report", run_copy, "-o", target)[0] == 2
    assert target.read_text() == "previous"
