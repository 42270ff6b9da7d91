"""One progress helper for every long loop: a bar on a terminal, plain lines in a log or a pipe."""

from __future__ import annotations

import io
import sys
import types

import numpy as np
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


# -- where progress shows: a notebook, or wherever a command asks ----------------------------------


class ZMQInteractiveShell:
    """Stands for the shell of a Jupyter kernel (IPython's class of that name)."""


class Shell(ZMQInteractiveShell):
    """Colab's kernel shell: a subclass under another name."""


class TerminalInteractiveShell:
    """IPython in a terminal: not a notebook."""


def fake_ipython(monkeypatch: pytest.MonkeyPatch, shell: object | None) -> None:
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", module)


@pytest.mark.parametrize(
    ("shell", "notebook"),
    [(ZMQInteractiveShell(), True), (Shell(), True), (TerminalInteractiveShell(), False), (None, False)],
)
def test_a_kernels_shell_is_a_notebook_colabs_subclass_included(monkeypatch, shell, notebook):
    fake_ipython(monkeypatch, shell)
    assert videoae.progress.in_notebook() is notebook
    assert videoae.progress.shows_progress(None) is notebook
    assert videoae.progress.shows_progress(True) and not videoae.progress.shows_progress(False)


def test_a_script_is_not_a_notebook(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not videoae.progress.in_notebook()


@pytest.fixture()
def every_update_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain line at every update, so that any display at all would show in stderr."""
    monkeypatch.setattr(videoae.progress, "PLAIN_INTERVAL_SECONDS", 0.0)


@pytest.fixture()
def library_calls():
    """Scoring, encoding and training called from Python, each on a few sequences or steps."""
    from videoae.data.evaluation_sets import evaluation_data
    from videoae.evaluation.evaluate import evaluate, evaluate_data
    from videoae.evaluation.predict import encoder_features
    from videoae.models import build_model
    from videoae.training.config import RunConfig
    from videoae.training.loop import train

    model = build_model("tiny", hidden_size=8, frame_shape=(1, 16, 16), num_input_frames=3, num_future_frames=2)
    videos = (np.arange(6 * 5 * 16 * 16) % 251).astype(np.uint8).reshape(6, 5, 16, 16)
    embedded = evaluation_data("embedded", num_frames=20, num_sequences=4)
    run = RunConfig.from_dict(
        {"model": {"preset": "tiny", "hidden_size": 8}, "train": {"batch_size": 2, "eval_sequences": 2, "num_workers": 0, "max_steps": 2}}
    )
    counter = iter(range(100))
    return {
        "scoring": lambda **kw: evaluate(model, videos, num_input_frames=3, batch_size=2, **kw),
        "scoring the embedded test set": lambda **kw: evaluate_data(None, embedded, batch_size=2, **kw),
        "encoding videos": lambda **kw: encoder_features(model, videos, batch_size=2, **kw),
        "train": lambda tmp_path, **kw: train(run, tmp_path / f"run{next(counter)}", **kw),
    }


def call(library_calls, name: str, tmp_path, **kw):
    return library_calls[name](tmp_path, **kw) if name == "train" else library_calls[name](**kw)


CALLS = ["scoring", "scoring the embedded test set", "encoding videos", "train"]


@pytest.mark.parametrize("name", CALLS)
def test_called_from_a_script_the_library_stays_quiet_unless_asked(library_calls, name, tmp_path, capsys, every_update_writes):
    assert not videoae.progress.in_notebook()  # pytest is a script, not a kernel
    call(library_calls, name, tmp_path)
    assert capsys.readouterr().err == ""
    call(library_calls, name, tmp_path, progress=True)  # asked: plain lines, as in a command's log
    assert f"{name}: " in capsys.readouterr().err


@pytest.mark.parametrize("name", CALLS)
def test_called_from_a_notebook_the_library_shows_a_bar(library_calls, name, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(videoae.progress, "in_notebook", lambda: True)
    call(library_calls, name, tmp_path)
    shown = capsys.readouterr().err
    # tqdm.auto's bar (a text bar here: this process is no kernel, so tqdm.auto chose its text form)
    assert name in shown and "%|" in shown
    call(library_calls, name, tmp_path, progress=False)
    assert capsys.readouterr().err == ""
