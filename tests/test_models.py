"""The composite model family: every preset and decoder variant, the fast path, the public API."""

from __future__ import annotations

import contextlib
import itertools

import pytest
import torch
import torch.nn.functional as F

from videoae.errors import InvalidInputError
from videoae.models import PRESETS, CompositeModel, ModelConfig, build_model
from videoae.models.deferred_grad import plain_autograd
from videoae.models.warp import FlowWarp

FRAME = (1, 8, 8)
SMALL = dict(hidden_size=12, frame_shape=FRAME, num_input_frames=4, num_future_frames=3)
# The spatial member on the same frames: 2x2 patches, a 4x4 grid of 4 channels in, 5 out.
SPATIAL = dict(cell="convlstm", patch_size=2, kernel_size=3)


def _frames(batch: int = 2, steps: int = 4, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, steps, *FRAME, generator=generator)


VARIANTS = [
    dict(reconstruct=r, predict=p, conditional_reconstruction=cr, conditional_prediction=cp, decoder_training_input=mode, output=out)
    for r, p, cr, cp, mode, out in itertools.product(
        [True, False], [True, False], [True, False], [True, False], ["ground_truth", "free_running", "scheduled"], ["bernoulli", "linear"]
    )
    if r or p
]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_trains_and_infers(name: str) -> None:
    model = build_model(name, **SMALL, **({"patch_size": 2} if PRESETS[name].cell == "convlstm" else {}))
    inputs, future = _frames(), _frames(steps=3, seed=1)
    out = model(inputs, future)
    out["loss"].backward()
    decoders = {"reconstruction": (model.config.reconstruct, inputs), "prediction": (model.config.predict, future)}
    for key, (present, truth) in decoders.items():
        assert (key in out) == present
        if not present:
            continue
        assert out[key].shape == truth.shape
        assert out[key].min() >= 0 and out[key].max() <= 1
    assert torch.isfinite(out["loss"]) and out["loss"] > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("cell", ["lstm", "convlstm"])
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k[:6]}={v[k]}" for k in v))
def test_variants_shapes_and_fast_path(variant: dict, cell: str) -> None:
    torch.manual_seed(0)
    options = dict(SMALL, **(SPATIAL if cell == "convlstm" else {}), hidden_size=5 if cell == "convlstm" else 12)
    model = build_model("tiny", **options, num_layers=2, peepholes=True, init_range=0.3, **variant)
    inputs, future = _frames(), _frames(steps=3, seed=1)
    results = []
    for path in (contextlib.nullcontext, plain_autograd):
        model.zero_grad()
        torch.manual_seed(1)  # the same scheduled-sampling draws on both paths
        with path():
            out = model(inputs, future)
            out["loss"].backward()
        results.append((out, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (fast_out, fast_grads), (plain_out, plain_grads) = results
    torch.testing.assert_close(fast_out["loss"], plain_out["loss"])
    assert len(fast_grads) == len(plain_grads)
    for a, b in zip(fast_grads, plain_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    if variant["reconstruct"]:
        assert fast_out["reconstruction"].shape == inputs.shape
    if variant["predict"]:
        assert fast_out["prediction"].shape == future.shape
        assert model.predict(inputs, num_future=7).shape == (2, 7, *FRAME)


def test_reconstruction_targets_are_the_inputs_in_reverse_order(monkeypatch: pytest.MonkeyPatch) -> None:
    model = build_model("tiny", **SMALL, predict=False)
    inputs = _frames(batch=1, steps=4).round()
    steps = inputs.shape[1]
    # The decoder emits, at step t, a constant logit c_t for every pixel.
    logits = torch.arange(1.0, steps + 1.0).view(steps, 1, 1).expand(steps, 1, 64)

    monkeypatch.setattr(model.reconstructor, "forward", lambda *args, **kwargs: logits)
    out = model(inputs)

    flat = inputs.reshape(1, steps, 64).transpose(0, 1)  # (T, B, D)
    expected = F.binary_cross_entropy_with_logits(logits, flat.flip(0), reduction="sum") / steps
    torch.testing.assert_close(out["reconstruction_loss"], expected)
    # decoder step 0 reconstructs the LAST input frame; returned in the inputs' order
    assert torch.allclose(out["reconstruction"][0, steps - 1], torch.sigmoid(torch.tensor(1.0)))
    assert torch.allclose(out["reconstruction"][0, 0], torch.sigmoid(torch.tensor(float(steps))))


def test_conditional_decoder_sees_only_earlier_ground_truth() -> None:
    model = build_model("tiny", **SMALL, conditional_prediction=True)
    state = model.encoder.zero_state(2, _frames())
    targets = torch.rand(3, 2, 64, requires_grad=True)
    outputs = model.predictor(state, 3, targets=targets, ground_truth_probability=1.0)
    for t in range(3):
        (grad,) = torch.autograd.grad(outputs[t].sum(), targets, retain_graph=True)
        assert torch.all(grad[t:] == 0), "a step must not see its own target or later ones"
        if t > 0:
            assert grad[t - 1].abs().sum() > 0, "a step is fed the previous ground-truth frame"


def test_scheduled_sampling_extremes_equal_the_two_modes() -> None:
    inputs, future = _frames(), _frames(steps=3, seed=1)
    torch.manual_seed(0)
    scheduled = build_model("tiny", **SMALL, init_range=0.3, decoder_training_input="scheduled")
    losses = {}
    for mode, probability in [("ground_truth", 1.0), ("free_running", 0.0)]:
        other = CompositeModel(scheduled.config.replace(decoder_training_input=mode))
        other.load_state_dict(scheduled.state_dict())
        losses[mode] = other(inputs, future)["loss"]
        torch.testing.assert_close(scheduled(inputs, future, ground_truth_probability=probability)["loss"], losses[mode])
    assert not torch.allclose(losses["ground_truth"], losses["free_running"])


def test_predict_far_past_the_trained_horizon_is_a_consistent_rollout() -> None:
    model = build_model("tiny", **SMALL)
    model.train()
    inputs = _frames()
    long = model.predict(inputs, num_future=25)
    assert long.shape == (2, 25, *FRAME) and torch.isfinite(long).all()
    torch.testing.assert_close(long[:, :3], model.predict(inputs))  # default: the trained 3 frames
    assert model.training, "inference must restore the caller's mode"
    assert not long.requires_grad


def test_encode_features_and_reconstruct() -> None:
    model = build_model("tiny", **SMALL, num_layers=2)
    inputs = _frames()
    state = model.encode(inputs)
    assert len(state) == 2 and state[0][0].shape == (2, 12)
    features = model.features(inputs)
    assert features.shape == (2, 2 * 2 * 12)
    torch.testing.assert_close(features, model.features(inputs))
    assert model.reconstruct(inputs).shape == inputs.shape


def test_flat_feature_vectors_work() -> None:
    model = build_model("tiny", hidden_size=8, frame_shape=(20,), output="linear")
    inputs, future = torch.rand(3, 5, 20), torch.rand(3, 10, 20)
    out = model(inputs, future)
    assert out["prediction"].shape == (3, 10, 20)
    assert model.features(inputs).shape == (3, 16)


@pytest.mark.parametrize(
    "frames, message",
    [
        (torch.rand(2, 4, 1, 16, 16), "shape"),
        (torch.rand(4, 1, 8, 8), "shape"),
        (torch.full((2, 4, 1, 8, 8), float("nan")), "NaN"),
        (torch.randint(0, 255, (2, 4, 1, 8, 8), dtype=torch.uint8), "float"),
        (torch.rand(0, 4, 1, 8, 8), "empty"),
    ],
)
def test_bad_frames_are_rejected_clearly(frames: torch.Tensor, message: str) -> None:
    model = build_model("tiny", **SMALL)
    with pytest.raises(InvalidInputError, match=message):
        model.predict(frames)


def test_bad_calls_and_configs_are_rejected_clearly() -> None:
    model = build_model("tiny", **SMALL)
    with pytest.raises(InvalidInputError, match="num_future"):
        model.predict(_frames(), num_future=0)
    with pytest.raises(InvalidInputError, match="num_future must be an integer"):
        model.predict(_frames(), num_future=2.5)
    with pytest.raises(InvalidInputError, match="future frames"):
        model(_frames())
    with pytest.raises(InvalidInputError, match="no future predictor"):
        build_model("tiny", **SMALL, predict=False).predict(_frames())
    with pytest.raises(InvalidInputError, match="unknown model preset"):
        build_model("huge")
    with pytest.raises(InvalidInputError, match="hidden_sise"):
        build_model("tiny", hidden_sise=3)
    with pytest.raises(InvalidInputError, match="dropout"):
        ModelConfig(dropout=1.5)


def test_presets_say_what_the_paper_and_the_notebook_use() -> None:
    paper, seed = PRESETS["paper"], PRESETS["seed"]
    assert (paper.hidden_size, paper.num_layers, paper.peepholes, paper.output) == (2048, 2, True, "bernoulli")
    assert paper.conditional_prediction and paper.conditional_reconstruction
    assert (seed.hidden_size, seed.num_layers, seed.peepholes, seed.output) == (2048, 2, False, "linear")
    assert seed.decoder_training_input == "free_running" and seed.dropout == 0.1
    assert ModelConfig.from_dict(paper.to_dict()) == paper


@pytest.mark.parametrize("cell, skip", [("lstm", "copy"), ("convlstm", "copy"), ("convlstm", "warp")])
def test_a_skip_connection_starts_as_copying_the_fed_frame(cell: str, skip: str) -> None:
    # With the readout zeroed, a conditional predictor fed the last input frame first and its own
    # output after that repeats the last input frame (up to the clamp of the logit).
    torch.manual_seed(0)
    options = dict(SMALL, **(SPATIAL if cell == "convlstm" else {}), hidden_size=5 if cell == "convlstm" else 12)
    model = build_model(
        "tiny",
        **options,
        conditional_reconstruction=False,
        conditional_prediction=True,
        predictor_first_input="last_input",
        skip_connection=skip,
        init="uniform",
    )
    with torch.no_grad():
        model.predictor.readout.weight.zero_()
        model.predictor.readout.bias.zero_()
    inputs = _frames().clamp(0.02, 0.98)
    predicted = model.predict(inputs, num_future=4)
    torch.testing.assert_close(predicted, inputs[:, -1:].expand_as(predicted), rtol=0, atol=1e-5)
    assert "predictor.skip_scale" in model.state_dict() and "reconstructor.skip_scale" not in model.state_dict()


def test_the_first_input_of_a_conditional_predictor_is_the_last_input_frame_when_asked() -> None:
    torch.manual_seed(0)
    model = build_model("tiny", **SMALL, conditional_prediction=True, predictor_first_input="last_input")
    inputs, future = _frames(), _frames(steps=3, seed=1)
    changed = inputs.clone()
    changed[:, -1] = 1 - changed[:, -1]
    model.eval()
    with torch.no_grad():
        first, other = model.predict(inputs, 1), model.predict(changed, 1)
        zeros_model = build_model("tiny", **SMALL, conditional_prediction=True)
        zeros_model.load_state_dict(model.state_dict())
        assert not torch.allclose(model.predict(inputs, 1), zeros_model.predict(inputs, 1))
    assert not torch.allclose(first, other)
    assert model(inputs, future)["prediction"].shape == future.shape


def test_the_readout_bias_starts_where_asked() -> None:
    model = build_model("conv-small", readout_bias=-2.92)
    for decoder in (model.reconstructor, model.predictor):
        assert torch.all(decoder.readout.bias == -2.92)
    assert not torch.all(build_model("conv-small", readout_bias=0.0).predictor.readout.bias == -2.92)


def test_a_warp_moves_the_fed_frame_along_its_flow() -> None:
    warp = FlowWarp(channels=3, patch_size=2)
    with torch.no_grad():
        warp.flow.bias.copy_(torch.tensor([2.0, -1.0]))  # 2 pixels right, 1 up
    frame = torch.rand(1, 1, 8, 8)
    moved = F.pixel_shuffle(warp(torch.zeros(1, 3, 4, 4), F.pixel_unshuffle(frame, 2)), 2)
    expected = torch.zeros_like(frame)
    expected[..., :7, 2:] = frame[..., 1:, :6]
    torch.testing.assert_close(moved, expected, rtol=0, atol=1e-6)
    with pytest.raises(InvalidInputError, match="warp"):
        ModelConfig(skip_connection="warp")  # a flat model has no grid to move along


def test_float64_frames_are_computed_in_the_models_own_precision() -> None:
    model = build_model("tiny", **SMALL)
    frames = _frames()
    torch.testing.assert_close(model.predict(frames.double(), 2), model.predict(frames, 2))
    assert model.predict(frames.double(), 2).dtype == torch.float32
