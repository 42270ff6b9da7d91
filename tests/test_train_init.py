"""A new run that starts from trained weights (``--set init_from=...``) instead of a random initialisation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from videoae.cli import main
from videoae.models.checkpoint import PRETRAINED_DIR, read_checkpoint
from videoae.training.config import RunConfig, TrainConfig
from videoae.training.loop import LAST_CHECKPOINT, train

pytestmark = pytest.mark.slow

FAST = dict(batch_size=4, eval_sequences=4, num_workers=0, log_every=2, checkpoint_every=2, eval_every=100)
TINY_MODEL = {"preset": "tiny", "hidden_size": 8}


def tiny_run(model: dict | None = None, **train_options) -> RunConfig:
    return RunConfig.from_dict({"model": {**TINY_MODEL, **(model or {})}, "train": {**FAST, **train_options}})


def weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path).model_state


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    """The last checkpoint of a tiny run trained 4 steps."""
    train(tiny_run(max_steps=4, seed=1), tmp_path / "first", progress=False)
    return tmp_path / "first" / LAST_CHECKPOINT


def test_a_new_run_starts_from_the_weights_it_is_given(tmp_path: Path, trained: Path) -> None:
    # at a vanishing learning rate one Adam step moves no weight by more than about 1e-12
    still = dict(max_steps=1, lr=1e-12)
    # settings that hold no weights may differ from the checkpoint's run
    model = {"decoder_training_input": "free_running"}
    train(tiny_run(model, init_from=str(trained), **still), tmp_path / "from", progress=False)
    train(tiny_run(model, **still), tmp_path / "fresh", progress=False)
    given, started, fresh = weights(trained), weights(tmp_path / "from" / LAST_CHECKPOINT), weights(tmp_path / "fresh" / LAST_CHECKPOINT)
    assert all(torch.allclose(started[name], given[name], atol=1e-9) for name in given)
    assert not all(torch.allclose(fresh[name], given[name], atol=1e-3) for name in given)


def test_a_resumed_run_continues_its_own_weights_without_the_init_file(tmp_path: Path, trained: Path) -> None:
    run = tiny_run(init_from=str(trained), max_steps=6)
    train(run, tmp_path / "straight", progress=False)
    train(run.with_overrides(["max_steps=2"]), tmp_path / "stopped", progress=False)
    trained.unlink()  # a resumed run never reads it again, in either form of resuming
    train(run.with_overrides(["max_steps=4"]), tmp_path / "stopped", resume_if_exists=True, progress=False)
    train(run, tmp_path / "stopped", resume=True, progress=False)
    straight, resumed = weights(tmp_path / "straight" / LAST_CHECKPOINT), weights(tmp_path / "stopped" / LAST_CHECKPOINT)
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)


def test_an_init_that_does_not_fit_gets_one_line_before_the_folder_is_made(tmp_path: Path, trained: Path, capsys) -> None:
    common = ["--preset", "tiny", "--set", "batch_size=4", "--set", "num_workers=0", "--no-progress", "--out", str(tmp_path / "run")]
    for options, message in [
        (["--set", "hidden_size=16", "--set", f"init_from={trained}"], "differ in hidden_size"),
        (["--set", "hidden_size=8", "--set", f"init_from={tmp_path / 'missing.safetensors'}"], "missing.safetensors"),
        (["--set", "hidden_size=8", "--set", "init_from=pretrained:nothing"], "no pretrained model named 'nothing'"),
    ]:
        assert main(["train", *options, *common]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_a_shipped_model_can_be_trained_further(tmp_path: Path) -> None:
    args = ["--preset", "conv-p8", "--set", "init_from=pretrained:conv-p8", "--set", "eval_sequences=4", "--set", "eval_every=100"]
    assert main(["train", *args, "--max-steps", "1", "--set", "lr=1e-12", "--no-progress", "--out", str(tmp_path / "run")]) == 0
    shipped, started = weights(PRETRAINED_DIR / "conv-p8.safetensors"), weights(tmp_path / "run" / LAST_CHECKPOINT)
    assert all(torch.allclose(started[name], shipped[name].float(), atol=1e-6) for name in shipped)


def test_a_run_saved_before_init_from_existed_still_resumes(tmp_path: Path, monkeypatch) -> None:
    to_dict = TrainConfig.to_dict
    with monkeypatch.context() as old_videoae:  # its config.json and checkpoints do not name the setting
        old_videoae.setattr(TrainConfig, "to_dict", lambda self: {k: v for k, v in to_dict(self).items() if k != "init_from"})
        train(tiny_run(max_steps=2), tmp_path / "run", progress=False)
    assert "init_from" not in read_checkpoint(tmp_path / "run" / LAST_CHECKPOINT).extra_metadata["train_config"]
    assert train(tiny_run(max_steps=4), tmp_path / "run", resume=True, progress=False).step == 4
