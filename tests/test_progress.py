"""One progress helper for every long loop: a bar on a terminal, plain lines in a log or a pipe."""

from __future__ import annotations

import io

import pytest

import videoae.progress
from videoae.progress import PlainProgress, progress_bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(videoae.progress.time, "monotonic", fake)
    return fake


def test_a_log_gets_a_plain_line_every_interval_with_done_elapsed_and_left(clock):
    log = io.StringIO()  # a file: not a terminal
    bar = progress_bar(10_000, "scoring the embedded test set", "seq", file=log)
    assert isinstance(bar, PlainProgress)
    clock.now += 5
    bar.update(500)
    assert log.getvalue() == ""  # nothing before the interval has passed
    clock.now += videoae.progress.PLAIN_INTERVAL_SECONDS - 5
    bar.update(2500)
    clock.now += 1
    bar.update(10)  # within the next interval: no line
    clock.now += 120
    bar.update(6990)
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines == [
        "scoring the embedded test set: 3,000/10,000 seq (30%), 00:30 elapsed, 01:10 left",
        "scoring the embedded test set: 10,000/10,000 seq (100%), 02:31 elapsed, 00:00 left",
        "scoring the embedded test set: 10,000/10,000 seq (100%), 02:31 elapsed, done",
    ]
    assert "\r" not in log.getvalue()


def test_work_done_within_the_interval_writes_nothing_to_a_log(clock):
    log = io.StringIO()
    bar = progress_bar(3, "generating", "seq", file=log)
    bar.update(3)
    bar.close()
    assert log.getvalue() == ""


def test_a_terminal_gets_a_redrawn_bar_and_a_disabled_display_nothing(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(videoae.progress, "wants_bar", lambda stream: True)
    bar = progress_bar(4, "reading", "file", file=screen, leave=True)
    bar.update(4)
    bar.close()
    assert "\r" in screen.getvalue() and "reading" in screen.getvalue() and "4/4" in screen.getvalue()
    quiet = io.StringIO()
    bar = progress_bar(4, "reading", "file", file=quiet, enabled=False)
    bar.update(4)
    bar.close()
    assert quiet.getvalue() == ""


def test_a_display_of_a_text_shows_it_in_either_form(clock, monkeypatch):
    log = io.StringIO()
    bar = progress_bar(1000, "train", show_counts=False, file=log)
    clock.now += 60
    bar.set_text("01:00 elapsed of 08:00, step 80")
    bar.update(125)
    assert log.getvalue().splitlines() == ["train: 12%, 01:00 elapsed of 08:00, step 80"]
    monkeypatch.setattr(videoae.progress, "wants_bar", lambda stream: True)
    screen = io.StringIO()
    bar = progress_bar(1000, "train", show_counts=False, file=screen, leave=True)
    bar.set_text("01:00<07:00 of 08:00, step 80")
    bar.update(125)
    bar.close()
    assert "| 01:00<07:00 of 08:00, step 80" in screen.getvalue()


def test_bytes_are_counted_with_binary_prefixes_in_a_log(clock):
    log = io.StringIO()
    bar = progress_bar(8 * 2**20, "downloading mnist_test_seq.npy", "B", unit_scale=True, file=log)
    clock.now += 31
    bar.update(2**20)
    assert log.getvalue().startswith("downloading mnist_test_seq.npy: 1.00M/8.00M B (12%), 00:31 elapsed, 03:37 left")
