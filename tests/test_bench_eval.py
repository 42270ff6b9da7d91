"""The evaluation benchmark's code path: it times the calls evaluate makes, on any preset (timings
are never asserted)."""

from __future__ import annotations

import pytest
import torch

from videoae.data.evaluation_sets import evaluation_data
from videoae.models import build_model


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("bench_eval")


@pytest.mark.parametrize("previous", [False, True])
def test_the_split_times_data_model_and_metrics(bench, previous: bool) -> None:
    model = build_model("tiny").eval()
    data = evaluation_data("embedded", num_frames=13, num_sequences=5)
    clocks = bench.split(model, data, batch_size=2, num_input=10, future=3, previous=previous)
    assert set(clocks) == {"data", "model", "metrics"}
    assert all(clock.wall >= 0 and clock.cpu >= 0 for clock in clocks.values())


def test_the_previous_metrics_it_compares_with_give_the_same_numbers(bench) -> None:
    from videoae.evaluation.metrics import per_frame_metrics

    g = torch.Generator().manual_seed(0)
    target, prediction = torch.rand(2, 3, 1, 16, 16, generator=g), torch.rand(2, 3, 1, 16, 16, generator=g)
    previous, current = bench.previous_scores(prediction, target, None), per_frame_metrics(prediction, target)
    for name, values in current.items():
        assert torch.allclose(previous[name].float(), values, rtol=1e-5), name
