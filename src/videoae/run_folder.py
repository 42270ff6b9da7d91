"""The run folder: the one module that names its files, and the readers of what is in it.

A run lives in a folder::

    RUN/config.json                   the resolved model and train configs
    RUN/metrics.jsonl                 one JSON record per log interval and per evaluation
    RUN/checkpoints/last.safetensors  weights, optimizer, RNG and step (for --resume)
    RUN/checkpoints/best.safetensors  the best evaluation so far: weights, configs, metrics (no optimizer state)
    RUN/samples/step_NNNNNN.gif       input | truth | reconstruction | prediction at each evaluation
    RUN/eval.json                     the final evaluation (videoae demo, videoae eval --json RUN/...)
    RUN/training_curves.png, RUN/per_frame.png, RUN/samples.gif, RUN/samples.png  the demo's pictures
    RUN/plot.png                      videoae plot (never one of the demo's pictures)
    RUN/report.html                   videoae report
    RUN/.lock                         locked by the one process training into the folder (its id inside)

Readers here are lenient where a report only shows what is there (a crash can cut the last line of
the metrics log short) and strict where a command needs the file.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from videoae.errors import InvalidInputError
from videoae.validation import MAX_STEPS, is_int, load_json

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT = Path(CHECKPOINTS_DIR) / "last.safetensors"
BEST_CHECKPOINT = Path(CHECKPOINTS_DIR) / "best.safetensors"
SAMPLES_DIR = "samples"
TENSORBOARD_DIR = "tensorboard"
EVAL_FILE = "eval.json"  # written by videoae demo (and videoae eval --json) into the run folder
CURVES_FILE = "training_curves.png"
PLOT_FILE = "plot.png"  # videoae plot's own name: the demo's curves (CURVES_FILE) stay as the demo drew them
PER_FRAME_FILE = "per_frame.png"
DEMO_SAMPLES_GIF = "samples.gif"
DEMO_SAMPLES_PNG = "samples.png"
REPORT_FILE = "report.html"
LOCK_FILE = ".lock"


class RunFolderLock:
    """An exclusive OS lock on a run folder, held while one process trains into it.

    A POSIX record lock (``fcntl``): the kernel releases it the moment its process ends, however it
    ends, and forked children (DataLoader workers) do not inherit it, so a resume straight after a
    ``kill -9`` never waits for the dead run's workers to exit. Such locks do not exclude the
    process that holds them, so the folders this process holds are also kept here. Call
    :meth:`release` (or use it as a context manager) when done.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self._fd: int | None = None
        self._key: tuple[int, int] | None = None
        try:
            import fcntl
        except ImportError:  # not a POSIX system: no lock, as before
            logger.warning("cannot lock %s on this system; make sure no other process trains into it", run_dir)
            return
        try:
            existing = _file_key(os.stat(self.path))
        except OSError:
            existing = None
        if existing in _HELD_HERE:  # never open it again here: closing a second descriptor would drop the lock
            raise _in_use(run_dir, f"process {os.getpid()}")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = _lock_holder(fd) if err.errno in (errno.EACCES, errno.EAGAIN) else None
            os.close(fd)
            if holder is not None:
                raise _in_use(run_dir, holder) from None
            # a filesystem without locks (some network mounts): train anyway
            logger.warning("cannot lock %s (%s); make sure no other process trains into it", run_dir, err.strerror or err)
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd, self._key = fd, _file_key(os.fstat(fd))
        _HELD_HERE.add(self._key)

    def release(self) -> None:
        """Let another process train into the folder (the lock file stays: removing it would race)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            _HELD_HERE.discard(self._key)
            self._fd = self._key = None

    def __enter__(self) -> RunFolderLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


_HELD_HERE: set[tuple[int, int]] = set()  # (device, inode) of the lock files this process holds


def _file_key(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _in_use(run_dir: Path, holder: str) -> InvalidInputError:
    return InvalidInputError(f"{run_dir} is in use: {holder} is training into it; wait for it to end (or stop it), or choose another --out")


def _lock_holder(fd: int) -> str:
    """Who holds the lock, from the process id its holder wrote into the file."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


def present(path: Path) -> bool:
    """Whether anything is at ``path``, a broken symbolic link included."""
    return path.exists() or path.is_symlink()


def started_run_files(run_dir: Path) -> list[Path]:
    """The files of a started run found in ``run_dir`` (its config, metrics log or last checkpoint):
    a folder that holds any of them holds a run, to be resumed, never started over."""
    return [name for name in (LAST_CHECKPOINT, Path(CONFIG_FILE), Path(METRICS_FILE)) if present(run_dir / name)]


def sample_gif(run_dir: Path, step: int) -> Path:
    """Where training writes the sample GIF of the evaluation at ``step``."""
    return run_dir / SAMPLES_DIR / f"step_{step:06d}.gif"


def run_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, checked to be an existing folder."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"run folder {path} does not exist; give the folder that videoae train --out (or demo --out) wrote")
    if not path.is_dir():
        raise InvalidInputError(f"{path} is not a folder; give a run folder (the --out of videoae train or videoae demo)")
    return path


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict]:
    """The records of ``RUN/metrics.jsonl`` in file order; unreadable lines (a crash can cut the
    last one short) are skipped with a warning.

    Raises:
        InvalidInputError: no such folder, no metrics file, or no readable record in it.
    """
    path = run_folder(run_dir) / METRICS_FILE
    if not path.is_file():
        raise InvalidInputError(
            f"{run_dir} has no {METRICS_FILE}: not a videoae run folder, or its training has not logged yet; "
            "give the folder of a run that trained for at least one logging interval"
        )
    records, damaged = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = load_json(line)
        except ValueError:  # malformed, or past Python's limits (digits, nesting): skipped like a cut line
            record = None
        # a record is plotted against its step: one that is not a count of steps is unreadable
        if isinstance(record, dict) and is_int(record.get("step")) and 0 <= record["step"] <= MAX_STEPS:
            records.append(record)
        else:
            damaged += 1
    if damaged:
        logger.warning("skipped %d unreadable line(s) of %s", damaged, path)
    if not records:
        raise InvalidInputError(f"{path} holds no training records; train for at least one logging interval first")
    return records


def read_config(run_dir: Path) -> dict | None:
    """``RUN/config.json`` as written (not validated: a report shows what is there), or None."""
    path = run_dir / CONFIG_FILE
    try:
        data = load_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        logger.warning("cannot read %s: %s", path, err)
        return None
    return data if isinstance(data, dict) else None


def latest_evaluation(run_dir: Path, records: list[dict]) -> tuple[dict | None, str]:
    """The evaluation to report and where it came from: ``RUN/eval.json`` when readable, else the
    last evaluation record of ``metrics.jsonl``; (None, reason) when there is none."""
    path = run_dir / EVAL_FILE
    if path.is_file():
        try:
            data = load_json(path.read_bytes())
        except (OSError, ValueError) as err:
            data = None
            logger.warning("cannot read %s (%s); reporting the last evaluation logged during training", path, err)
        if isinstance(data, dict) and ("prediction" in data or "reconstruction" in data):
            return data, f"{EVAL_FILE}: the final evaluation of {data.get('checkpoint') or 'the run'}"
    for record in reversed(records):
        if isinstance(record.get("eval"), dict):
            return record["eval"], f"{METRICS_FILE}: the last evaluation during training, at step {record.get('step', '?')}"
    return None, "no evaluation yet"


def latest_sample_gif(run_dir: Path) -> Path | None:
    """The newest ``RUN/samples/step_*.gif`` (by step), else the demo's ``RUN/samples.gif``."""
    samples = run_dir / SAMPLES_DIR
    found = sorted(samples.glob("*.gif"), key=lambda p: (len(p.name), p.name)) if samples.is_dir() else []
    if found:
        return found[-1]
    demo = run_dir / DEMO_SAMPLES_GIF
    return demo if demo.is_file() else None
