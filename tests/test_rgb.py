"""RGB end to end: a model of (3, H, W) frames trains on colour videos, is scored, predicts and
draws its pictures in colour, for the flat and the spatial family."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("av", reason="PyAV is not installed (pip install 'videoae[video]')")

from video_files import moving_bar, write_video  # noqa: E402
from videoae.cli import main  # noqa: E402
from videoae.data.video_io import read_container  # noqa: E402
from videoae.evaluation.evaluate import evaluate  # noqa: E402
from videoae.evaluation.predict import predict_videos  # noqa: E402
from videoae.models import build_model  # noqa: E402
from videoae.models.config import preset  # noqa: E402
from videoae.reporting.comparison import comparison_strip  # noqa: E402
from videoae.training.config import RunConfig  # noqa: E402
from videoae.training.loop import train  # noqa: E402

SHAPE = [3, 16, 16]


@pytest.fixture(scope="module")
def colour_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("colour")
    for index in range(3):
        write_video(folder / f"v{index}.mkv", np.roll(moving_bar(24, colour=True), index, axis=2))
    return folder


@pytest.mark.parametrize("family", ["tiny", "conv-small"])
def test_every_model_family_reads_and_writes_rgb_frames(family):
    model = build_model(preset(family).replace(frame_shape=SHAPE, hidden_size=4, num_input_frames=3, num_future_frames=2))
    videos = torch.rand(2, 5, *SHAPE)
    out = model(videos[:, :3], videos[:, 3:])
    assert out["prediction"].shape == (2, 2, *SHAPE) and out["reconstruction"].shape == (2, 3, *SHAPE)
    assert torch.isfinite(out["loss"])
    scores = evaluate(model, videos, num_input_frames=3, num_future=2)
    assert 0 < scores["prediction"]["mse"] <= 3 * 16 * 16  # summed over the frame's 768 values
    outputs = predict_videos(model, (videos.numpy() * 255).astype(np.uint8), num_input_frames=3, num_future=2)
    assert outputs.prediction.shape == (2, 2, 16, 16, 3) and outputs.inputs.shape == (2, 3, 16, 16, 3)
    strip = comparison_strip(**outputs.panels())
    assert strip.ndim == 3 and strip.shape[-1] == 3


def test_an_rgb_model_trains_on_colour_videos_is_scored_and_predicts_in_colour(colour_videos, tmp_path, capsys):
    model = {"preset": "tiny", "hidden_size": 8, "frame_shape": SHAPE, "num_input_frames": 4, "num_future_frames": 4}
    options = dict(data=str(colour_videos), batch_size=4, eval_sequences=4, num_workers=0, max_steps=4, eval_every=2, eval_fraction=0.34)
    run_dir = tmp_path / "run"
    result = train(RunConfig.from_dict({"model": model, "train": options}), run_dir, progress=False)
    assert np.isfinite(result.last_eval["prediction"]["ssim"])
    with Image.open(run_dir / "samples" / "step_000004.gif") as sample:
        assert sample.convert("RGB").getextrema()[0] != sample.convert("RGB").getextrema()[1]  # red differs from green

    assert main(["eval", str(run_dir), "--data", str(colour_videos), "--json", str(tmp_path / "e.json"), "--no-plot"]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["data"]["channels"] == 3
    assert main(["predict", str(run_dir), str(colour_videos / "v0.mkv"), "-o", str(tmp_path / "out")]) == 0
    assert np.load(tmp_path / "out" / "v0_prediction.npy").shape == (4, 16, 16, 3)
    assert read_container(tmp_path / "out" / "v0.mp4", channels=3).shape == (8, 3, 16, 16)
    with Image.open(tmp_path / "out" / "v0.png") as strip:
        assert strip.mode == "RGB"
    assert main(["features", str(run_dir), str(colour_videos), "-o", str(tmp_path / "f.npy")]) == 0
    capsys.readouterr()
    assert main(["eval", str(run_dir)]) == 2  # the embedded set is grayscale
    assert "reads RGB frames" in capsys.readouterr().err
