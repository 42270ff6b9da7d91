"""Classification scores (average precision, accuracy, chance) and the labelled Moving MNIST they score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videoae.data.digits import load_digits
from videoae.data.labelled_sequences import NUM_CLASSES, digit_labels, labelled_moving_mnist, multi_hot, sequence_labels
from videoae.data.labels import MULTI_LABEL, SINGLE_LABEL
from videoae.data.moving_mnist import generate
from videoae.errors import InvalidInputError
from videoae.evaluation.classification import accuracy, average_precision, chance_score, classification_score, mean_average_precision


def test_average_precision_of_known_rankings():
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.9], [0.1, 0.8], [0.2, 0.2]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0]])
    # class 0: positives ranked 1st and 2nd -> 1.0; class 1: positives at ranks 1 and 3 -> (1 + 2/3) / 2
    np.testing.assert_allclose(average_precision(scores, targets).numpy(), [1.0, 5 / 6], rtol=1e-6)
    assert torch.isnan(average_precision(scores, torch.zeros(4, 2))).all()


def test_a_perfect_ranking_scores_1_and_the_reversed_one_less():
    targets = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert mean_average_precision(targets * 5 + 1, targets) == pytest.approx(1.0)
    # the class without a positive is left out of the mean, not counted as 0
    assert mean_average_precision(-targets, targets) < 0.6


def test_accuracy_and_the_score_each_task_is_judged_by():
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [4.0, 0.0, 0.0]])
    classes = torch.tensor([0, 1, 0, 0])
    assert accuracy(logits, classes) == pytest.approx(0.75)
    assert classification_score(logits, classes, SINGLE_LABEL) == {"accuracy": pytest.approx(0.75)}
    assert set(classification_score(logits, torch.eye(3)[[0, 1, 2, 0]], MULTI_LABEL)) == {"map"}
    with pytest.raises(InvalidInputError, match="logits must be"):
        accuracy(logits, classes[:2])


def test_chance_is_the_prevalence_or_the_largest_class():
    assert chance_score(torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]), MULTI_LABEL) == pytest.approx(0.75)  # (1 + 0.5) / 2
    assert chance_score(torch.tensor([0, 2, 2, 1]), SINGLE_LABEL) == pytest.approx(0.5)


def test_labels_are_the_classes_of_the_digits_drawn():
    videos, labels = labelled_moving_mnist(6, num_frames=3, seed=5)
    images, classes = load_digits("bundled", "test")
    np.testing.assert_array_equal(videos, generate(6, seed=5, num_frames=3, digits=images))
    assert labels.shape == (6, NUM_CLASSES) and labels.dtype == np.float32 and set(np.unique(labels)) <= {0.0, 1.0}
    assert set(labels.sum(1)) <= {1.0, 2.0}  # two digits, possibly of the same class
    one_digit_videos, one_digit_labels = labelled_moving_mnist(8, num_frames=1, seed=5, num_digits=1)
    # a video of one digit shows exactly the class of the one digit in it that matches a bundled image
    for video, label in zip(one_digit_videos, one_digit_labels):
        crop = video[0][video[0].any(1)][:, video[0].any(0)]
        found = [
            c
            for image, c in zip(images, classes)
            if image[image.any(1)][:, image.any(0)].shape == crop.shape and (image[image.any(1)][:, image.any(0)] == crop).all()
        ]
        assert found and label[found[0]] == 1.0 and label.sum() == 1.0


def test_labels_follow_the_stream_and_its_start():
    _, labels = labelled_moving_mnist(10, seed=3)
    _, later = labelled_moving_mnist(4, seed=3, start=6)
    np.testing.assert_array_equal(labels[6:], later)
    np.testing.assert_array_equal(sequence_labels(np.arange(6, 10), digit_labels("test"), seed=3), later)


def test_multi_hot_marks_each_class_once():
    np.testing.assert_array_equal(multi_hot(np.array([[1, 1], [0, 2]]), 3), [[0, 1, 0], [1, 0, 1]])


def test_digit_files_without_labels_are_refused(tmp_path):
    np.save(tmp_path / "digits.npy", np.zeros((3, 8, 8), dtype=np.uint8))
    with pytest.raises(InvalidInputError, match="no labels"):
        digit_labels(str(tmp_path / "digits.npy"))
