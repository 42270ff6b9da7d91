"""The classifier on an autoencoder's encoder, for both families, and its raw-pixel baseline."""

from __future__ import annotations

import pytest
import torch

from videoae.data.labels import SINGLE_LABEL
from videoae.errors import InvalidInputError
from videoae.models import build_model
from videoae.models.checkpoint import CLASSIFIER_KEY, load_model, save_checkpoint
from videoae.models.classifier import ClassifierConfig, VideoClassifier, classifier_from_autoencoder, load_classifier

FRAMES = (1, 16, 16)
FAMILIES = {
    "flat": dict(hidden_size=8, num_layers=2, frame_shape=FRAMES, num_input_frames=3),
    "convlstm": dict(cell="convlstm", hidden_size=4, num_layers=2, patch_size=4, kernel_size=3, frame_shape=FRAMES, num_input_frames=3),
}


@pytest.fixture(params=list(FAMILIES))
def autoencoder(request):
    torch.manual_seed(0)
    return build_model("tiny", **FAMILIES[request.param])


def videos(batch: int = 5, frames: int = 4) -> torch.Tensor:
    return torch.rand(batch, frames, *FRAMES, generator=torch.Generator().manual_seed(1))


def encoder_weights(classifier: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in classifier.encoder.parameters()]


@pytest.mark.parametrize("state", ["all", "last_h"])
@pytest.mark.parametrize("pooling", ["mean", "max", "flatten"])
def test_logits_and_the_stated_feature_width(autoencoder, state, pooling):
    classifier = classifier_from_autoencoder(autoencoder, ClassifierConfig(num_classes=3, state=state, pooling=pooling))
    maps = 1 if state == "last_h" else 2 * 2  # h (and c) of 2 layers
    grid = 4 * 4 if autoencoder.config.cell == "convlstm" and pooling == "flatten" else 1  # 16x16 frames at patch 4
    units = autoencoder.config.hidden_size
    assert classifier.feature_size == maps * units * grid
    assert classifier.features(videos()).shape == (5, classifier.feature_size)
    logits = classifier(videos())
    assert logits.shape == (5, 3) and torch.isfinite(logits).all()


def test_the_head_reads_the_encoder_state_that_features_export(autoencoder):
    classifier = classifier_from_autoencoder(autoencoder, ClassifierConfig(pooling="flatten")).eval()
    torch.testing.assert_close(classifier.features(videos()), autoencoder.features(videos()[:, :3]))


def test_a_frozen_encoder_keeps_its_weights_and_stays_in_eval_mode(autoencoder):
    classifier = classifier_from_autoencoder(autoencoder, ClassifierConfig(num_classes=2, freeze_encoder=True, head_hidden=4))
    before, head = encoder_weights(classifier), [p.detach().clone() for p in classifier.head.parameters()]
    optimizer = torch.optim.Adam([p for p in classifier.parameters() if p.requires_grad], lr=0.1)
    for _ in range(3):
        classifier.loss(classifier(videos()), torch.tensor([[1.0, 0.0]] * 5)).backward()
        optimizer.step()
        optimizer.zero_grad()
    assert classifier.training and not classifier.encoder.training
    assert all(torch.equal(a, b) for a, b in zip(before, encoder_weights(classifier)))
    assert not all(torch.equal(a, b.detach()) for a, b in zip(head, classifier.head.parameters()))


def test_a_fine_tuned_encoder_learns(autoencoder):
    classifier = classifier_from_autoencoder(autoencoder, ClassifierConfig(num_classes=2, task=SINGLE_LABEL))
    before = encoder_weights(classifier)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=0.1)
    classifier.loss(classifier(videos()), torch.tensor([0, 1, 0, 1, 1])).backward()
    optimizer.step()
    assert not any(torch.equal(a, b) for a, b in zip(before, encoder_weights(classifier)))


def test_pretrained_copies_the_encoder_and_random_draws_a_new_one(autoencoder):
    pretrained = classifier_from_autoencoder(autoencoder, ClassifierConfig())
    assert all(torch.equal(a, b) for a, b in zip(encoder_weights(pretrained), autoencoder.encoder.parameters()))
    torch.manual_seed(5)
    random = classifier_from_autoencoder(autoencoder, ClassifierConfig(), init="random")
    assert not all(torch.equal(a, b) for a, b in zip(encoder_weights(random), autoencoder.encoder.parameters()))
    torch.manual_seed(5)
    again = classifier_from_autoencoder(autoencoder, ClassifierConfig(), init="random")
    assert all(torch.equal(a, b) for a, b in zip(encoder_weights(again), encoder_weights(random)))
    # initialised as a new autoencoder's encoder: the same shapes and the same spread
    fresh = build_model(autoencoder.config)
    for a, b in zip(encoder_weights(random), encoder_weights(fresh)):
        assert a.shape == b.shape and (a.std() == b.std() == 0 or 0.5 < float(a.std() / b.std()) < 2)
    with pytest.raises(InvalidInputError, match="unknown init"):
        classifier_from_autoencoder(autoencoder, ClassifierConfig(), init="imagenet")


def test_the_raw_pixel_baseline_reads_the_mean_input_frame(autoencoder):
    classifier = VideoClassifier(autoencoder.config, ClassifierConfig(num_classes=4, representation="pixels", head_hidden=6))
    assert classifier.encoder is None and classifier.feature_size == 16 * 16
    frames = videos()
    torch.testing.assert_close(classifier.features(frames), frames[:, :3].mean(1).flatten(1))
    assert classifier(frames).shape == (5, 4)


def test_short_videos_and_bad_configs_are_refused(autoencoder):
    classifier = classifier_from_autoencoder(autoencoder, ClassifierConfig())
    with pytest.raises(InvalidInputError, match="classifier reads 3"):
        classifier(videos(frames=2))
    with pytest.raises(InvalidInputError, match="pooling must be one of"):
        ClassifierConfig(pooling="avg")
    with pytest.raises(InvalidInputError, match="num_classes must be >= 2"):
        ClassifierConfig(num_classes=1)


def test_a_saved_classifier_loads_as_a_classifier_and_not_as_an_autoencoder(autoencoder, tmp_path):
    config = ClassifierConfig(num_classes=3, pooling="max", head_hidden=5)
    classifier = classifier_from_autoencoder(autoencoder, config)
    path = save_checkpoint(tmp_path / "c.safetensors", classifier, step=1, extra_metadata={CLASSIFIER_KEY: config.to_dict()})
    loaded = load_classifier(path)
    assert loaded.classifier_config == config and not loaded.training
    torch.testing.assert_close(loaded(videos()), classifier.eval()(videos()))
    with pytest.raises(InvalidInputError, match="is a video classifier"):
        load_model(path)
    autoencoder_file = save_checkpoint(tmp_path / "ae.safetensors", autoencoder, step=0)
    with pytest.raises(InvalidInputError, match="not a classifier"):
        load_classifier(autoencoder_file)
