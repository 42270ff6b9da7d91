"""The linear-probe benchmark's code path (figures are never asserted: only ranges and structure)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videoae.data.digits import load_digits
from videoae.data.moving_mnist import generate
from videoae.models.checkpoint import load_model


@pytest.fixture(scope="module")
def probe(load_benchmark):
    return load_benchmark("linear_probe")


def test_average_precision_of_known_rankings(probe):
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.9], [0.1, 0.8], [0.2, 0.2]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0]])
    # class 0: positives ranked 1st and 2nd -> 1.0; class 1: positives at ranks 1 and 3 -> (1 + 2/3) / 2
    np.testing.assert_allclose(probe.average_precision(scores, targets).numpy(), [1.0, 5 / 6], rtol=1e-6)
    assert torch.isnan(probe.average_precision(scores, torch.zeros(4, 2))).all()


def test_labels_are_the_classes_of_the_digits_drawn(probe):
    videos, labels = probe.labelled_sequences(6, num_frames=3, seed=5)
    images, _ = load_digits("bundled", "test")
    np.testing.assert_array_equal(videos, generate(6, seed=5, num_frames=3, digits=images))
    assert labels.shape == (6, 10) and set(np.unique(labels)) <= {0.0, 1.0}
    assert set(labels.sum(1)) <= {1.0, 2.0}  # two digits, possibly of the same class


def test_run_probe_scores_every_representation_in_range(probe, trained_run):
    result = probe.run_probe(load_model(trained_run), num_sequences=200)
    assert set(result) == {"trained", "random_init", "pixels", "chance", "data"}
    for name in ("trained", "random_init", "pixels"):
        assert set(result[name]) == {"map", "accuracy", "weight_decay"}
        assert result[name]["weight_decay"] in probe.WEIGHT_DECAYS
    for name in ("trained", "random_init", "pixels", "chance"):
        assert 0.0 <= result[name]["map"] <= 1.0 and 0.0 <= result[name]["accuracy"] <= 1.0
    assert result["data"]["num_test"] == 40
