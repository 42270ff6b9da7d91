"""Fine-tuning: the run folder, exact resume, frozen and fine-tuned encoders, the pixel baseline, and ``videoae finetune``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from videoae.cli import main
from videoae.data.labelled_sequences import labelled_moving_mnist
from videoae.data.labels import SINGLE_LABEL
from videoae.errors import InvalidInputError
from videoae.models import build_model
from videoae.models.checkpoint import read_checkpoint, save_checkpoint
from videoae.models.classifier import ClassifierConfig, VideoClassifier, classifier_from_autoencoder, load_classifier
from videoae.run_folder import BEST_CHECKPOINT, CONFIG_FILE, LAST_CHECKPOINT, METRICS_FILE
from videoae.training import finetune as finetune_module
from videoae.training.finetune import finetune
from videoae.training.finetune_config import FinetuneConfig, read_finetune_config
from videoae.training.loop import TrainingInterrupted

FRAMES = (1, 16, 16)
FAMILIES = {
    "flat": dict(hidden_size=8, num_layers=2, dropout=0.3, frame_shape=FRAMES, num_input_frames=3),
    "convlstm": dict(cell="convlstm", hidden_size=4, num_layers=2, dropout=0.3, kernel_size=3, frame_shape=FRAMES, num_input_frames=3),
}
QUICK = dict(batch_size=4, eval_every=4, checkpoint_every=3, log_every=2, precision="fp32", device="cpu")


@pytest.fixture(params=list(FAMILIES))
def autoencoder(request):
    torch.manual_seed(0)
    return build_model("tiny", **FAMILIES[request.param])


def labelled(num: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, 4, 16, 16) videos and multi-hot (N, 10) labels."""
    videos, labels = labelled_moving_mnist(num, seed=9, num_frames=4)
    return np.ascontiguousarray(videos[:, :, ::4, ::4]), labels


def make_classifier(autoencoder, **options) -> VideoClassifier:
    torch.manual_seed(1)
    return classifier_from_autoencoder(autoencoder, ClassifierConfig(**options))


def weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in module.state_dict().values()]


def test_a_run_writes_its_folder_and_keeps_the_best_checkpoint(autoencoder, tmp_path):
    videos, labels = labelled()
    result = finetune(make_classifier(autoencoder), videos, labels, tmp_path / "run", config=FinetuneConfig(max_steps=8, **QUICK))
    run = tmp_path / "run"
    assert result.step == 8 and result.stop_reason == "max_steps" and result.score_name == "map"
    assert result.num_validation == 5 and 0 <= result.chance <= 1 and 0 <= result.best_score <= 1
    saved = read_finetune_config(run)
    assert saved.finetune.max_steps == 8 and saved.data["num_train"] == 19 and saved.classifier.pooling == "flatten"
    records = [json.loads(line) for line in (run / METRICS_FILE).read_text().splitlines()]
    assert [r["step"] for r in records if "eval" in r] == [4, 8] and [r["step"] for r in records if "loss" in r] == [2, 4, 6, 8]
    best = read_checkpoint(run / BEST_CHECKPOINT)
    assert best.step == result.best_step and best.metrics["map"] == pytest.approx(result.best_score)
    assert load_classifier(run).classifier_config == ClassifierConfig()
    with pytest.raises(InvalidInputError, match="already holds a run"):
        finetune(make_classifier(autoencoder), videos, labels, run, config=FinetuneConfig(max_steps=8, **QUICK))


def test_a_resumed_run_ends_with_the_weights_and_log_of_one_that_never_stopped(autoencoder, tmp_path, monkeypatch):
    videos, labels = labelled()
    config = FinetuneConfig(max_steps=8, **QUICK)
    finetune(make_classifier(autoencoder), videos, labels, tmp_path / "whole", config=config)
    whole = load_classifier(tmp_path / "whole" / LAST_CHECKPOINT)

    train_step = finetune_module._Finetuner._train_step

    def crash_at_step_5(self, positions):
        if self.step == 5:
            raise RuntimeError("killed")
        train_step(self, positions)

    monkeypatch.setattr(finetune_module._Finetuner, "_train_step", crash_at_step_5)
    with pytest.raises(RuntimeError, match="killed"):
        finetune(make_classifier(autoencoder), videos, labels, tmp_path / "cut", config=config)
    monkeypatch.setattr(finetune_module._Finetuner, "_train_step", train_step)
    assert read_checkpoint(tmp_path / "cut" / LAST_CHECKPOINT).step == 3
    # the classifier handed in is replaced by the checkpoint's: its own weights must not matter
    torch.manual_seed(99)
    other = classifier_from_autoencoder(autoencoder, ClassifierConfig(), init="random")
    result = finetune(other, videos, labels, tmp_path / "cut", config=config, resume=True)
    assert result.step == 8
    resumed = load_classifier(tmp_path / "cut" / LAST_CHECKPOINT)
    assert all(torch.equal(a, b) for a, b in zip(weights(whole), weights(resumed)))
    assert all(torch.equal(a, b) for a, b in zip(weights(whole), weights(other)))
    assert log_without_speed(tmp_path / "cut") == log_without_speed(tmp_path / "whole")


def log_without_speed(run) -> list[dict]:
    records = [json.loads(line) for line in (run / METRICS_FILE).read_text().splitlines()]
    return [{key: value for key, value in record.items() if key != "seq_per_s"} for record in records]


def test_resuming_with_other_labels_or_settings_is_refused(autoencoder, tmp_path):
    videos, labels = labelled()
    config = FinetuneConfig(max_steps=2, **QUICK)
    finetune(make_classifier(autoencoder), videos, labels, tmp_path / "run", config=config)
    with pytest.raises(InvalidInputError, match="labels_sha256"):
        finetune(make_classifier(autoencoder), videos, labels[::-1].copy(), tmp_path / "run", config=config, resume=True)
    with pytest.raises(InvalidInputError, match="finetune.lr"):
        finetune(
            make_classifier(autoencoder), videos, labels, tmp_path / "run", config=FinetuneConfig(max_steps=2, lr=0.5, **QUICK), resume=True
        )


def test_a_frozen_encoder_ends_as_it_started_and_a_fine_tuned_one_does_not(autoencoder, tmp_path):
    videos, labels = labelled()
    config = FinetuneConfig(max_steps=3, lr=0.05, **QUICK)
    for freeze in (True, False):
        classifier = make_classifier(autoencoder, freeze_encoder=freeze)
        before = weights(classifier.encoder)
        finetune(classifier, videos, labels, tmp_path / f"frozen_{freeze}", config=config)
        trained = load_classifier(tmp_path / f"frozen_{freeze}" / LAST_CHECKPOINT)
        unchanged = [torch.equal(a, b) for a, b in zip(before, weights(trained.encoder))]
        assert all(unchanged) if freeze else not any(unchanged)
        assert read_checkpoint(tmp_path / f"frozen_{freeze}" / LAST_CHECKPOINT).step == 3


def test_the_raw_pixel_baseline_learns_brightness(tmp_path):
    # class 1: bright videos, class 0: dark ones; the mean input frame tells them apart
    rng = np.random.default_rng(0)
    classes = np.arange(40) % 2
    videos = (rng.random((40, 3, *FRAMES[1:])) * 100 + 120 * classes[:, None, None, None]).astype(np.uint8)
    torch.manual_seed(0)
    model_config = build_model("tiny", frame_shape=FRAMES, num_input_frames=3).config
    classifier = VideoClassifier(model_config, ClassifierConfig(num_classes=2, task=SINGLE_LABEL, representation="pixels"))
    config = FinetuneConfig(max_steps=40, lr=0.01, batch_size=8, eval_every=20, precision="fp32", device="cpu")
    result = finetune(classifier, videos[:30], classes[:30], tmp_path / "pixels", config=config, validation=(videos[30:], classes[30:]))
    assert result.score_name == "accuracy" and result.best_score == 1.0 and result.num_validation == 10


def test_patience_stops_a_run_that_no_longer_improves(autoencoder, tmp_path):
    videos, labels = labelled()
    config = FinetuneConfig(max_steps=60, lr=1e-9, patience=2, eval_every=1, batch_size=4, precision="fp32", device="cpu")
    result = finetune(make_classifier(autoencoder, freeze_encoder=True), videos, labels, tmp_path / "run", config=config)
    assert result.stop_reason == "patience" and result.step < 60
    assert read_checkpoint(tmp_path / "run" / LAST_CHECKPOINT).step == result.step


def test_a_stop_signal_saves_the_step_and_the_run_resumes(autoencoder, tmp_path, monkeypatch):
    class StopSoon:  # Ctrl-C arriving during the first steps
        def __init__(self) -> None:
            self.checks = 0

        @property
        def requested(self) -> bool:
            self.checks += 1
            return self.checks > 2

        def restore(self) -> None:
            pass

    videos, labels = labelled()
    config = FinetuneConfig(max_steps=5, **QUICK)
    monkeypatch.setattr(finetune_module, "StopRequest", StopSoon)
    with pytest.raises(TrainingInterrupted, match="finetune --resume") as caught:
        finetune(make_classifier(autoencoder), videos, labels, tmp_path / "run", config=config)
    saved = read_checkpoint(tmp_path / "run" / LAST_CHECKPOINT).step
    assert caught.value.exit_code == 130 and 0 < saved < 5 and f"interrupted after step {saved};" in str(caught.value)
    monkeypatch.undo()
    assert finetune(make_classifier(autoencoder), videos, labels, tmp_path / "run", config=config, resume=True).step == 5


def test_labels_of_another_task_than_the_classifier_are_refused(autoencoder, tmp_path):
    videos, _ = labelled()
    with pytest.raises(InvalidInputError, match="are single_label over 10 classes but the classifier is multi_label over 10"):
        finetune(make_classifier(autoencoder), videos, np.arange(24) % 3, tmp_path / "run", config=FinetuneConfig(**QUICK))
    assert not (tmp_path / "run").exists()


# -- the command line -------------------------------------------------------------------------------


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fails(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 2, out + err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("videoae: error: ")
    return err


@pytest.fixture
def cli_data(tmp_path):
    """A tiny flat autoencoder's checkpoint, 24 videos (frames first, as data generate writes) and their labels."""
    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "ae.safetensors", build_model("tiny", **FAMILIES["flat"]), step=0)
    videos, labels = labelled()
    np.save(tmp_path / "videos.npy", videos.transpose(1, 0, 2, 3))
    np.save(tmp_path / "labels.npy", labels)
    return checkpoint, tmp_path / "videos.npy", tmp_path / "labels.npy"


def test_finetune_trains_resumes_and_prints_the_held_out_score(cli_data, tmp_path, capsys):
    checkpoint, videos, labels = cli_data
    out = tmp_path / "run"
    argv = ["finetune", checkpoint, "--data", videos, "--labels", labels, "--out", out, "--steps", 4, "--batch-size", 4]
    code, stdout, _ = run(capsys, *argv, "--eval-every", 2, "--pooling", "max", "--freeze", "--no-progress")
    assert code == 0 and "held-out mean average precision on 5 validation videos: best" in stdout and "chance" in stdout
    saved = read_finetune_config(out)
    assert saved.classifier.freeze_encoder and saved.data["labels"] == str(labels) and saved.finetune.max_steps == 4
    code, stdout, _ = run(capsys, "finetune", "--resume", out, "--steps", 6, "--no-progress")
    assert code == 0 and "to step 6" in stdout
    assert json.loads((out / CONFIG_FILE).read_text())["finetune"]["max_steps"] == 6
    assert "--lr" in fails(capsys, "finetune", "--resume", out, "--lr", "0.1")
    assert "already holds a run" in fails(capsys, *argv)


def test_finetune_takes_the_first_videos_and_their_labels(cli_data, tmp_path, capsys):
    checkpoint, videos, labels = cli_data
    argv = ["finetune", checkpoint, "--data", videos, "--labels", labels, "--out", tmp_path / "run", "--steps", 1, "--no-progress"]
    code, stdout, _ = run(capsys, *argv, "--num-sequences", 10, "--representation", "pixels")
    assert code == 0 and "on 2 validation videos" in stdout
    data = read_finetune_config(tmp_path / "run").data
    assert data["num_videos"] == 10 and data["init"] is None
    assert "holds 24 videos" in fails(capsys, *argv[:-5], "--out", tmp_path / "other", "--num-sequences", 30)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros(23), "holds 23 labels but there are 24 videos"),
        (np.full(24, 1.5), "not a whole number"),
        (np.full((24, 10), 2.0), "must be 0 or 1"),
        (np.full(24, -1), "negative class"),
        (np.full(24, np.nan), "NaN"),
        (np.ones(24, dtype=int), "at least two classes"),
    ],
)
def test_bad_labels_get_one_line_and_exit_code_2(cli_data, tmp_path, capsys, labels, message):
    checkpoint, videos, _ = cli_data
    np.save(tmp_path / "bad.npy", labels)
    err = fails(capsys, "finetune", checkpoint, "--data", videos, "--labels", tmp_path / "bad.npy", "--out", tmp_path / "run")
    assert message in err and not (tmp_path / "run").exists()


def test_finetune_refuses_unreadable_labels_and_missing_options(cli_data, tmp_path, capsys):
    checkpoint, videos, labels = cli_data
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    assert "not a NumPy .npy file" in fails(
        capsys, "finetune", checkpoint, "--data", videos, "--labels", tmp_path / "bad.npy", "--out", tmp_path / "r"
    )
    assert "--labels FILE" in fails(capsys, "finetune", checkpoint, "--data", videos, "--out", tmp_path / "r")
    assert "--out RUN" in fails(capsys, "finetune", checkpoint, "--data", videos, "--labels", labels)
    assert "drop --freeze" in fails(
        capsys,
        "finetune",
        checkpoint,
        "--data",
        videos,
        "--labels",
        labels,
        "--out",
        tmp_path / "r",
        "--representation",
        "pixels",
        "--freeze",
    )


def test_data_generate_writes_the_labels_of_the_sequences(tmp_path, capsys):
    argv = ["data", "generate", "--num", 5, "--seed", 4, "--start", 2, "--frames", 3, "--digits", "test"]
    code, stdout, _ = run(capsys, *argv, "-o", tmp_path / "v.npy", "--labels-out", tmp_path / "l.npy")
    assert code == 0 and "multi-hot" in stdout
    videos, labels = labelled_moving_mnist(5, seed=4, start=2, num_frames=3)
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy").transpose(1, 0, 2, 3), videos)
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), labels)
    assert "is the file -o writes" in fails(capsys, *argv, "-o", tmp_path / "same.npy", "--labels-out", tmp_path / "same.npy")
