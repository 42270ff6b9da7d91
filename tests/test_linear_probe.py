"""The linear-probe benchmark's code path (figures are never asserted: only ranges and structure)."""

from __future__ import annotations

import pytest

from videoae.models.checkpoint import load_model


@pytest.fixture(scope="module")
def probe(load_benchmark):
    return load_benchmark("linear_probe")


def test_run_probe_scores_every_representation_in_range(probe, trained_run):
    result = probe.run_probe(load_model(trained_run), num_sequences=200)
    assert set(result) == {"trained", "random_init", "pixels", "chance", "data"}
    for name in ("trained", "random_init", "pixels"):
        assert set(result[name]) == {"map", "accuracy", "weight_decay"}
        assert result[name]["weight_decay"] in probe.WEIGHT_DECAYS
    for name in ("trained", "random_init", "pixels", "chance"):
        assert 0.0 <= result[name]["map"] <= 1.0 and 0.0 <= result[name]["accuracy"] <= 1.0
    assert result["data"]["num_test"] == 40
