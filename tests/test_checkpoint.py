"""Checkpoints: exact round trips, resuming, atomic writes, damaged files, loading trained models."""

from __future__ import annotations

import errno
import io
import json
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import videoae
from videoae import atomic
from videoae.errors import InvalidInputError
from videoae.models import CompositeModel, build_model
from videoae.models.checkpoint import (
    CHECKPOINT_FORMAT_VERSION,
    CheckpointWriteError,
    check_compatible,
    load_model,
    read_checkpoint,
    resolve_checkpoint_path,
    save_checkpoint,
)

FRAME_SHAPE = (1, 8, 8)
NUM_FRAMES = 3


def tiny_model(seed: int = 0, **overrides) -> CompositeModel:
    torch.manual_seed(seed)
    options = dict(hidden_size=8, frame_shape=FRAME_SHAPE, num_input_frames=NUM_FRAMES, num_future_frames=NUM_FRAMES)
    return build_model("tiny", **{**options, **overrides})


def batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    frames = torch.rand(2, 2 * NUM_FRAMES, *FRAME_SHAPE, generator=generator)
    return frames[:, :NUM_FRAMES], frames[:, NUM_FRAMES:]


def train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, seeds: range) -> None:
    model.train()
    for seed in seeds:
        optimizer.zero_grad()
        model(*batch(seed))["loss"].backward()
        optimizer.step()


def assert_same(a, b) -> None:
    """Exact equality of nested state: tensors bit-identical with the same dtype, other values equal and of the same type."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    elif isinstance(a, dict):
        assert sorted(a, key=str) == sorted(b, key=str)  # order is irrelevant to load_state_dict
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def one_line_error(call, *fragments: str) -> str:
    with pytest.raises(InvalidInputError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- round trips --------------------------------------------------------------------------------


def test_weights_config_step_and_metrics_round_trip_exactly(tmp_path):
    model = tiny_model()
    path = save_checkpoint(tmp_path / "a.safetensors", model, step=7, metrics={"val_loss": torch.tensor(12.5), "epoch": 2})
    loaded = read_checkpoint(path)
    assert loaded.format_version == CHECKPOINT_FORMAT_VERSION
    assert loaded.videoae_version == videoae.__version__
    assert loaded.model_config == model.config
    assert (loaded.step, loaded.metrics) == (7, {"val_loss": 12.5, "epoch": 2})
    assert loaded.optimizer_state is None and loaded.extra_tensors == {} and loaded.extra_metadata == {}
    assert_same(dict(model.state_dict()), loaded.model_state)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda params: torch.optim.Adam(params, lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-4),
        lambda params: torch.optim.RMSprop(params, lr=1e-3, momentum=0.9, centered=True),
        lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
    ],
    ids=["adam", "rmsprop", "sgd-momentum"],
)
@pytest.mark.parametrize("cell", ["lstm", "convlstm"])
def test_resuming_from_a_checkpoint_continues_bit_identically(tmp_path, make_optimizer, cell):
    model = tiny_model(**({"cell": "convlstm", "patch_size": 2, "hidden_size": 4} if cell == "convlstm" else {}))
    optimizer = make_optimizer(model.parameters())
    train_steps(model, optimizer, range(2))
    path = save_checkpoint(tmp_path / "last.safetensors", model, step=2, optimizer=optimizer)

    loaded = read_checkpoint(path)
    assert_same(optimizer.state_dict(), loaded.optimizer_state)
    resumed = CompositeModel(loaded.model_config)
    resumed.load_state_dict(loaded.model_state)
    resumed_optimizer = make_optimizer(resumed.parameters())
    resumed_optimizer.load_state_dict(loaded.optimizer_state)

    train_steps(model, optimizer, range(2, 4))
    train_steps(resumed, resumed_optimizer, range(2, 4))
    for (name, original), (_, continued) in zip(model.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(original, continued), name


def test_optimizer_state_none_values_and_several_groups_survive(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.SGD(
        [{"params": list(model.encoder.parameters()), "lr": 0.5}, {"params": list(model.predictor.parameters())}], lr=0.1, momentum=0.9
    )
    train_steps(model, optimizer, range(1))
    first = next(iter(model.encoder.parameters()))
    optimizer.state[first]["momentum_buffer"] = None  # as older torch versions stored it
    save_checkpoint(tmp_path / "c.safetensors", model, step=1, optimizer=optimizer)
    state = read_checkpoint(tmp_path / "c.safetensors").optimizer_state
    assert_same(optimizer.state_dict(), state)
    assert state["state"][0]["momentum_buffer"] is None
    assert [group["lr"] for group in state["param_groups"]] == [0.5, 0.1]
    optimizer.load_state_dict(state)  # accepted by torch
    train_steps(model, optimizer, range(1, 2))


def test_rng_state_and_extra_metadata_round_trip(tmp_path):
    torch.manual_seed(123)
    rng_state = torch.get_rng_state()
    expected = torch.rand(5)
    extra = {
        "rng/cpu": rng_state,
        "position": torch.tensor(41),
        "mask": torch.tensor([True, False]),
        "half": torch.ones(2, dtype=torch.bfloat16),
    }
    save_checkpoint(
        tmp_path / "r.safetensors", tiny_model(), step=0, extra_tensors=extra, extra_metadata={"samples_seen": 1280, "note": "é"}
    )
    loaded = read_checkpoint(tmp_path / "r.safetensors")
    assert_same(extra, loaded.extra_tensors)
    assert loaded.extra_metadata == {"samples_seen": 1280, "note": "é"}
    torch.manual_seed(0)
    torch.set_rng_state(loaded.extra_tensors["rng/cpu"])
    assert torch.equal(torch.rand(5), expected)


def test_file_is_standard_safetensors_with_one_json_metadata_key(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters())
    train_steps(model, optimizer, range(1))
    path = save_checkpoint(tmp_path / "s.safetensors", model, step=1, optimizer=optimizer, extra_tensors={"empty": torch.zeros(0, 3)})
    tensors = load_file(path)  # the reference reader agrees with our streaming writer
    assert torch.equal(tensors["model/encoder.layers.0.weight_hh"], model.encoder.layers[0].weight_hh.detach())
    assert torch.equal(tensors["optimizer/0/exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert tensors["extra/empty"].shape == (0, 3)
    assert all(name.split("/")[0] in ("model", "optimizer", "extra") for name in tensors)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    assert list(metadata) == ["videoae"]
    document = json.loads(metadata["videoae"])
    assert document["model_config"] == model.config.to_dict()
    assert document["optimizer"]["class"] == "Adam"
    assert "params" not in document["optimizer"]["param_groups"][0]


# -- wrappers -----------------------------------------------------------------------------------


class FakeDDP(nn.Module):
    """Mimics DistributedDataParallel: the model under ``.module``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # torch.compile's own import
@pytest.mark.parametrize("wrap", ["fake-ddp", "compile", "compile-ddp", "compiled-submodule"])
def test_wrapper_prefixes_are_never_stored(tmp_path, wrap):
    model = tiny_model()
    expected = set(model.state_dict())
    if wrap == "fake-ddp":
        wrapped = FakeDDP(model)
    elif wrap == "compile":
        wrapped = torch.compile(model)
    elif wrap == "compile-ddp":
        wrapped = torch.compile(FakeDDP(model))
    else:
        model.encoder = torch.compile(model.encoder)
        wrapped = model
    assert set(wrapped.state_dict()) != expected  # the wrapper does add prefixes
    save_checkpoint(tmp_path / "w.safetensors", wrapped, step=0)
    assert set(read_checkpoint(tmp_path / "w.safetensors").model_state) == expected
    assert isinstance(load_model(tmp_path / "w.safetensors"), CompositeModel)


def test_real_distributed_data_parallel_is_unwrapped(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        model = tiny_model()
        save_checkpoint(tmp_path / "d.safetensors", nn.parallel.DistributedDataParallel(model), step=0)
    finally:
        dist.destroy_process_group()
    assert set(read_checkpoint(tmp_path / "d.safetensors").model_state) == set(model.state_dict())


# -- atomic writes ------------------------------------------------------------------------------


def _fail(err: int):
    def fail(*args, **kwargs):
        raise OSError(err, os.strerror(err))

    return fail


class _FullDisk(io.FileIO):
    """A file on a disk that fills up at the first write."""

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["tensor-data", "fsync", "replace"])
def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, where):
    path = save_checkpoint(tmp_path / "last.safetensors", tiny_model(seed=1), step=1)
    before = path.read_bytes()
    if where == "tensor-data":
        monkeypatch.setattr(atomic, "open", _FullDisk, raising=False)
    else:
        monkeypatch.setattr(atomic.os, where, _fail(errno.ENOSPC))
    with pytest.raises(CheckpointWriteError) as info:
        save_checkpoint(path, tiny_model(seed=2), step=2)
    monkeypatch.undo()
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert str(info.value) == f"could not write checkpoint {path}: disk full; the previous checkpoint is intact"
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.safetensors"]  # no temporary file left behind
    assert read_checkpoint(path).step == 1


def test_a_failed_first_write_says_nothing_was_written(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.os, "replace", _fail(errno.EACCES))
    with pytest.raises(OSError, match="Permission denied; nothing was written"):
        save_checkpoint(tmp_path / "new.safetensors", tiny_model(), step=0)
    assert os.listdir(tmp_path) == []


def test_save_creates_the_folder_and_overwrites(tmp_path):
    path = tmp_path / "run" / "checkpoints" / "last.safetensors"
    save_checkpoint(path, tiny_model(), step=1)
    ordinary = tmp_path / "ordinary"
    ordinary.write_bytes(b"")
    assert path.stat().st_mode == ordinary.stat().st_mode  # readable like any file the user writes
    save_checkpoint(path, tiny_model(), step=2)
    assert read_checkpoint(path).step == 2
    assert os.listdir(path.parent) == ["last.safetensors"]


def test_bad_arguments_are_refused_before_writing(tmp_path):
    path = tmp_path / "x.safetensors"
    one_line_error(lambda: save_checkpoint(path, nn.Linear(2, 2), step=0), "videoae model")
    one_line_error(lambda: save_checkpoint(path, tiny_model(), step=-1), "step")
    one_line_error(lambda: save_checkpoint(path, tiny_model(), step=0, metrics={"bad": object()}), "cannot store")
    one_line_error(lambda: save_checkpoint(path, tiny_model(), step=0, extra_tensors={"": torch.zeros(2)}), "non-empty names")
    assert not path.exists()


# -- damaged and foreign files ------------------------------------------------------------------


@pytest.fixture
def good_file(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters())
    train_steps(model, optimizer, range(1))
    return save_checkpoint(tmp_path / "good.safetensors", model, step=1, optimizer=optimizer)


def rewrite(path, new_path, *, edit_tensors=None, edit_document=None, metadata=None):
    """Save the checkpoint's contents to ``new_path`` after editing its tensors and/or JSON document."""
    from safetensors import safe_open

    tensors = load_file(path)
    with safe_open(str(path), framework="pt") as handle:
        document = json.loads(handle.metadata()["videoae"])
    if edit_tensors:
        edit_tensors(tensors)
    if edit_document:
        edit_document(document)
    save_file(tensors, str(new_path), metadata={"videoae": json.dumps(document)} if metadata is None else metadata)
    return new_path


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda data: data[: len(data) // 2], "damaged"),
        (lambda data: data[:-1], "damaged"),
        (lambda data: b"", "damaged"),
        (lambda data: os.urandom(len(data)), "damaged"),
        (lambda data: b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ", "damaged"),
    ],
    ids=["half", "last-byte", "empty", "random", "bad-header"],
)
def test_damaged_files_give_a_clear_error(good_file, tmp_path, damage, fragment):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(damage(good_file.read_bytes()))
    one_line_error(lambda: read_checkpoint(bad), str(bad), fragment, "use another checkpoint")
    one_line_error(lambda: load_model(bad), str(bad))


def test_foreign_and_future_files_give_a_clear_error(good_file, tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(2)}, str(plain))
    one_line_error(lambda: read_checkpoint(plain), str(plain), "not a videoae checkpoint")
    other = rewrite(good_file, tmp_path / "other.safetensors", metadata={"format": "pt"})
    one_line_error(lambda: read_checkpoint(other), "not a videoae checkpoint")
    newer = rewrite(good_file, tmp_path / "newer.safetensors", edit_document=lambda d: d.update(format_version=999))
    one_line_error(lambda: read_checkpoint(newer), str(newer), "newer videoae (format 999", "upgrade videoae")
    garbled = rewrite(good_file, tmp_path / "garbled.safetensors", metadata={"videoae": "{oops"})
    one_line_error(lambda: read_checkpoint(garbled), "damaged")
    no_step = rewrite(good_file, tmp_path / "no_step.safetensors", edit_document=lambda d: d.pop("step"))
    one_line_error(lambda: read_checkpoint(no_step), "damaged")
    lost = rewrite(good_file, tmp_path / "lost.safetensors", edit_tensors=lambda t: t.pop("optimizer/0/exp_avg"))
    one_line_error(lambda: read_checkpoint(lost), "optimizer/0/exp_avg is missing")
    assert read_checkpoint(lost, load_optimizer=False).optimizer_state is None


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["model_config"].update(hidden_size=-3),
        lambda d: d["model_config"].update(colour="red"),
        lambda d: d.update(model_config=[1]),
    ],
    ids=["bad-value", "unknown-key", "not-a-dict"],
)
def test_invalid_model_config_gives_a_clear_error(good_file, tmp_path, edit):
    bad = rewrite(good_file, tmp_path / "bad.safetensors", edit_document=edit)
    one_line_error(lambda: read_checkpoint(bad), str(bad), "invalid model config")


def test_unusable_devices_are_refused_in_one_line(good_file):
    one_line_error(lambda: load_model(good_file, device="gpu"), "unknown device 'gpu'")
    if not torch.cuda.is_available():
        one_line_error(lambda: read_checkpoint(good_file, map_location="cuda"), "CUDA is not available")


def test_missing_file_and_folder(tmp_path):
    one_line_error(lambda: read_checkpoint(tmp_path / "nope.safetensors"), "nope.safetensors does not exist")
    one_line_error(lambda: read_checkpoint(tmp_path), "is a folder")
    one_line_error(lambda: load_model(tmp_path), str(tmp_path), "train first or give a .safetensors file")


# -- loading models -----------------------------------------------------------------------------


def test_load_model_of_a_run_folder_prefers_best_over_last(tmp_path):
    best, last = tiny_model(seed=1), tiny_model(seed=2)
    save_checkpoint(tmp_path / "checkpoints" / "last.safetensors", last, step=20)
    assert resolve_checkpoint_path(tmp_path) == tmp_path / "checkpoints" / "last.safetensors"
    save_checkpoint(tmp_path / "checkpoints" / "best.safetensors", best, step=10)
    assert resolve_checkpoint_path(tmp_path) == tmp_path / "checkpoints" / "best.safetensors"
    loaded = load_model(tmp_path)
    assert not loaded.training
    assert_same(dict(best.state_dict()), dict(loaded.state_dict()))
    assert resolve_checkpoint_path(tmp_path / "x.safetensors") == tmp_path / "x.safetensors"


def test_videoae_load_gives_the_trained_models_predictions(tmp_path):
    model = tiny_model(conditional_prediction=False)
    save_checkpoint(tmp_path / "m.safetensors", model, step=0)
    loaded = videoae.load(tmp_path / "m.safetensors", device="cpu")
    assert isinstance(loaded, CompositeModel) and not loaded.training
    inputs, _ = batch(0)
    assert torch.equal(loaded.predict(inputs, 5), model.predict(inputs, 5))


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (lambda t: t.update({"model/encoder.layers.0.bias": torch.zeros(5)}), ["wrong shape", "encoder.layers.0.bias", "(5,)", "(32,)"]),
        (lambda t: t.pop("model/predictor.readout.weight"), ["missing predictor.readout.weight"]),
        (lambda t: t.update({"model/extra.weight": torch.zeros(1)}), ["unexpected extra.weight"]),
    ],
    ids=["shape", "missing", "unexpected"],
)
def test_edited_weights_give_a_clear_error(good_file, tmp_path, edit, fragments):
    bad = rewrite(good_file, tmp_path / "edited.safetensors", edit_tensors=edit)
    one_line_error(lambda: load_model(bad), str(bad), "do not match", *fragments)


def test_weights_of_another_config_list_only_the_first_few_names(good_file, tmp_path):
    bigger = rewrite(good_file, tmp_path / "bigger.safetensors", edit_document=lambda d: d["model_config"].update(hidden_size=16))
    message = one_line_error(lambda: load_model(bigger), "wrong shape", "more")
    assert len(message) < 600


def test_reading_never_unpickles(good_file, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint must never be unpickled")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")]:
        monkeypatch.setattr(module, name, refuse)
    assert read_checkpoint(good_file).optimizer_state is not None
    assert isinstance(load_model(good_file), CompositeModel)


def test_check_compatible_lists_the_differing_keys(good_file):
    loaded = read_checkpoint(good_file)
    check_compatible(loaded, loaded.model_config)
    changed = loaded.model_config.replace(hidden_size=16, dropout=0.1)
    one_line_error(lambda: check_compatible(loaded, changed), "hidden_size (8 in the checkpoint, 16 now)", "dropout", "start a new run")


@pytest.mark.slow
def test_import_videoae_stays_light():
    code = "import sys, videoae; assert callable(videoae.load); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_editing_loaded_tensors_never_changes_the_file(good_file):
    before = good_file.read_bytes()
    loaded = read_checkpoint(good_file)
    for tensor in [*loaded.model_state.values(), *loaded.optimizer_state["state"][0].values()]:
        tensor.add_(1)
    assert good_file.read_bytes() == before


# -- files written by earlier versions ------------------------------------------------------------

FORMAT_1_FIXTURE = Path(__file__).parent / "fixtures" / "checkpoint_format1.safetensors"


def test_a_checkpoint_written_by_the_hand_written_encoder_still_loads_and_resumes(tmp_path):
    # Written by videoae 0.1.0 before checkpoints used safetensors' own writer: a tiny model on
    # 8x8 frames after one Adam step, with an RNG state and a best score.
    checkpoint = read_checkpoint(FORMAT_1_FIXTURE)
    assert checkpoint.format_version == 1 and checkpoint.step == 7
    assert checkpoint.metrics == {"prediction": {"bce": 1.5}} and checkpoint.extra_metadata == {"best_score": 1.5}
    model = videoae.load(FORMAT_1_FIXTURE)
    assert model.config.frame_shape == (1, 8, 8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    optimizer.load_state_dict(checkpoint.optimizer_state)
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.999)
    assert all(float(state["step"]) == 1.0 for state in optimizer.state.values())
    torch.set_rng_state(checkpoint.extra_tensors["rng_rank0"])
    # and the same contents come back after a round trip through today's writer
    again = read_checkpoint(save_checkpoint(tmp_path / "again.safetensors", model, step=7, optimizer=optimizer))
    for name, tensor in checkpoint.model_state.items():
        assert torch.equal(again.model_state[name], tensor)
    assert again.optimizer_state["param_groups"] == checkpoint.optimizer_state["param_groups"]
