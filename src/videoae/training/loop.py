"""The training loop: one code path for one process or many (``torchrun``, PyTorch DDP).

A run writes into its run folder (:mod:`videoae.run_folder` names the files). Everything a step
consumes is a function of the step (data by index, the RNG state saved in checkpoints), so a run
killed at any moment and resumed from its last checkpoint ends with the same weights as one that
never stopped (bit-identical on CPU in one process).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from videoae import __version__
from videoae.atomic import write_json_atomically
from videoae.data.training_batches import StepBatchSampler, training_dataset, training_loader
from videoae.errors import EXIT_INTERRUPTED, EXIT_RESUMABLE, InvalidInputError, VideoAEError
from videoae.models import CompositeModel
from videoae.models.checkpoint import (
    Checkpoint,
    check_compatible,
    check_weights,
    initial_weights,
    read_checkpoint,
    save_checkpoint,
)
from videoae.progress import shows_progress
from videoae.run_folder import (
    BEST_CHECKPOINT,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    LAST_CHECKPOINT,
    METRICS_FILE,
    SAMPLES_DIR,
    TENSORBOARD_DIR,
    RunFolderLock,
    present,
    sample_gif,
    started_run_files,
)
from videoae.training import distributed
from videoae.training.config import RunConfig, TrainConfig, config_differences
from videoae.training.distributed import RefusedElsewhere
from videoae.training.metrics_log import MetricsLog, check_tensorboard, last_logged_step
from videoae.training.periodic_eval import evaluate_during_training, score
from videoae.training.progress import TrainingProgress
from videoae.training.runtime import resolve_precision, training_settings
from videoae.training.schedules import ground_truth_at, lr_at, make_optimizer
from videoae.training.stop_request import StopRequest

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# Seeds of the per-process RNG streams (dropout, scheduled sampling) after initialisation, which
# itself uses the run's seed on every process so all start from the same weights.
PROCESS_SEED_STRIDE = 1_000_003
LOG_WINDOW = "log_window"  # checkpoint entries of the logging interval in progress
# Checkpoint entries of each process's CUDA generator, which draws scheduled sampling and dropout
# on a GPU: without it a run resumed on CUDA would draw other numbers than one that never stopped.
CUDA_RNG = "cuda_rng"
AGREED = "agreed_by_all"  # set on an error that every process raises at the same point
WORLD_SIZE = "world_size"  # checkpoint metadata: the number of processes that saved it
MAX_WORLD_SIZE = 1 << 20
# Why the processes stop, as the votes they cast after each step (the highest wins).
_GO_ON, _OUT_OF_TIME, _CTRL_C, _PREEMPTED = range(4)


class TrainingDiverged(VideoAEError):
    """The loss became NaN or infinite."""


class TrainingInterrupted(VideoAEError):
    """A stop signal: the run saved its state and stopped (Ctrl-C: exit code 130, the shell's code
    for an interrupted command; a preemption signal: 75, "run the same command again")."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, *, exit_code: int = EXIT_INTERRUPTED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class TrainResult:
    """What a finished (or stopped) run left behind."""

    run_dir: Path
    step: int
    stop_reason: str  # "max_steps" or "max_minutes" (a stop signal raises TrainingInterrupted)
    last_eval: dict | None
    best_score: float | None


def train(
    run: RunConfig, run_dir: str | Path, *, resume: bool = False, resume_if_exists: bool = False, progress: bool | None = None
) -> TrainResult:
    """Train (or resume) a run in ``run_dir``; works the same under ``torchrun``.

    Args:
        run: the model and train configs (for a resumed run: those of ``read_run_config``, with
            ``max_steps`` / ``max_minutes`` possibly changed).
        run_dir: the run folder.
        resume: continue from ``RUN/checkpoints/last.safetensors``.
        resume_if_exists: start the run when the folder holds none, else continue it, provided
            ``run`` is its configuration (the form for requeued jobs and restarted torchrun workers).
        progress: show a progress bar (process 0 only): None (default) only in a notebook, True
            always (the command line's choice: a bar on a terminal, plain lines in a log), False never.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (the last good checkpoint is kept).
        TrainingInterrupted: a stop signal (the state at the last finished step is saved).
        PeerLost: another process of the group died (the run folder stays resumable).
    """
    state = distributed.setup(run.train.device)
    together = False  # whether every process leaves at this point
    try:
        # the run folder's lock and the metrics log are released however the run ends
        with training_settings(state.device), contextlib.ExitStack() as cleanup:
            trainer = _Trainer(run, Path(run_dir), state, cleanup, resume=resume, resume_if_exists=resume_if_exists, progress=progress)
            result = trainer.run()
        together = True
        return result
    except (VideoAEError, OSError) as err:  # a stop signal (TrainingInterrupted) is one the processes voted for
        together = isinstance(err, TrainingInterrupted) or getattr(err, AGREED, False)
        raise
    finally:
        distributed.teardown(state, together=together)


def _training_state(checkpoint: Checkpoint, rank: int, world_size: int) -> dict:
    """The training state a checkpoint stores beside the weights for process ``rank`` of
    ``world_size``, checked by type and range (a damaged or edited file gets one line, not a
    traceback deep in torch).

    A run saved by another number of processes continues the same data stream and global batch:
    each process takes the RNG state of the process of its rank, if there was one, and process 0
    carries the unfinished logging interval of them all, so the next logged means stay right.
    """

    def damaged(what: str) -> InvalidInputError:
        return InvalidInputError(f"checkpoint {checkpoint.path} holds {what}; it was edited or damaged: train again or restore it")

    best = checkpoint.extra_metadata.get("best_score")
    if best is not None and (not isinstance(best, (int, float)) or isinstance(best, bool) or not math.isfinite(best)):
        raise damaged(f"best_score {best!r} (not a finite number)")
    rng = checkpoint.extra_tensors.get(f"rng_rank{rank}")
    if rng is not None and (rng.dtype != torch.uint8 or rng.dim() != 1 or rng.numel() != torch.get_rng_state().numel()):
        raise damaged(
            f"an RNG state of dtype {rng.dtype} and shape {tuple(rng.shape)} (torch's is uint8 of {torch.get_rng_state().numel()})"
        )
    cuda_rng = checkpoint.extra_tensors.get(f"{CUDA_RNG}_rank{rank}")
    if cuda_rng is not None and (cuda_rng.dtype != torch.uint8 or cuda_rng.dim() != 1):
        raise damaged(f"a CUDA RNG state of dtype {cuda_rng.dtype} and shape {tuple(cuda_rng.shape)} (torch's is a uint8 vector)")
    saved_world = saved_world_size(checkpoint)
    windows = [checkpoint.extra_tensors.get(f"{LOG_WINDOW}_rank{r}") for r in range(saved_world)]
    described = checkpoint.extra_metadata.get(LOG_WINDOW)
    state = {"best_score": best, "rng": None if rng is None else rng.cpu(), "cuda_rng": cuda_rng, "window": None}
    if described is not None and all(window is not None for window in windows):
        steps, parts = (described.get("steps"), described.get("parts")) if isinstance(described, dict) else (None, None)
        if not (
            isinstance(steps, int)
            and 0 <= steps <= checkpoint.step
            and isinstance(parts, list)
            and all(isinstance(p, str) for p in parts)
            and all(w.dim() == 1 and w.numel() == len(parts) + 1 and w.is_floating_point() for w in windows)
        ):
            raise damaged("an unreadable logging interval")
        if saved_world == world_size:
            window = windows[rank]
        elif rank == 0:  # the logged mean divides the sum over processes by their number
            window = torch.stack(windows).sum(0) * (world_size / saved_world)
        else:
            window = torch.zeros_like(windows[0])
        state["window"] = (steps, parts, window)
    return state


def saved_world_size(checkpoint: Checkpoint) -> int:
    """How many processes saved a checkpoint (1 for one of a single process, or of an older videoae)."""
    declared = checkpoint.extra_metadata.get(WORLD_SIZE)
    if isinstance(declared, int) and not isinstance(declared, bool) and 1 <= declared <= MAX_WORLD_SIZE:
        return declared
    return max(1, sum(1 for name in checkpoint.extra_tensors if name.startswith("rng_rank")))


def match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each loaded state tensor its parameter's memory layout. A checkpoint stores tensors
    contiguous, while the spatial family's convolutions are channels-last; fused Adam walks a
    parameter and its moments in memory order, so mismatched layouts would pair each weight with
    another weight's moments (measured: resumed runs drifted 1e-2 from uninterrupted ones)."""
    for param, param_state in optimizer.state.items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                param_state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


class _Trainer:
    def __init__(
        self,
        run: RunConfig,
        run_dir: Path,
        dist: distributed.DistState,
        cleanup: contextlib.ExitStack,
        *,
        resume: bool,
        resume_if_exists: bool,
        progress: bool | None,
    ) -> None:
        self.run_config, self.config, self.run_dir, self.dist = run, run.train, run_dir, dist
        self.progress = shows_progress(progress) and dist.is_main
        # Everything that can be checked is checked before the run folder is made or touched.
        shape = run.model.frame_shape
        if len(shape) != 3 or shape[0] not in (1, 3):
            raise InvalidInputError(f"videoae train needs image frames, model.frame_shape [C, H, W] with C 1 or 3; got {list(shape)}")
        if self.config.batch_size % dist.world_size:
            raise InvalidInputError(
                f"batch_size {self.config.batch_size} (the global batch) is not divisible by the {dist.world_size} processes; "
                "choose a batch size that is a multiple of the number of processes"
            )
        if self.config.tensorboard and dist.is_main:
            check_tensorboard()
        self.dataset = training_dataset(
            self.config.data,
            num_frames=run.model.num_input_frames + run.model.num_future_frames,
            image_size=shape[-1],
            seed=self.config.seed,
            num_digits=self.config.num_digits,
            speed=self.config.speed,
            digits=self.config.digits,
            clips=run.clip_options(),
            layout=self.config.layout,
        )
        torch.manual_seed(self.config.seed)  # the same initial weights on every process
        self.model = CompositeModel(run.model).to(dist.device)
        # read before the folder is touched; a run that will resume starts from its own checkpoint instead
        will_resume = resume or (resume_if_exists and (run_dir / LAST_CHECKPOINT).is_file())
        init_state = initial_weights(self.config.init_from, run.model) if self.config.init_from and not will_resume else None
        self.optimizer = make_optimizer(self.model, self.config, dist.device)
        # Process 0 alone decides about the folder; the others learn its decision, or stop
        # without a word when it refused (its one line says why).
        decision = self._together(lambda: self._prepare_folder(cleanup, resume=resume, resume_if_exists=resume_if_exists))
        has_checkpoint, resuming = divmod(distributed.broadcast_code(dist, decision or 0), 2)
        tensorboard = self.run_dir / TENSORBOARD_DIR if self.config.tensorboard and dist.is_main else None
        self.metrics_log = MetricsLog(self.run_dir / METRICS_FILE, tensorboard_dir=tensorboard)
        cleanup.callback(self.metrics_log.close)
        torch.manual_seed(self.config.seed + PROCESS_SEED_STRIDE * (dist.rank + 1))
        self.step, self.best_score = 0, None
        self.last_eval: dict | None = None
        self._reset_window()
        if has_checkpoint:
            self._together(self._restore)
        elif self.config.init_from:  # a new run, or one killed before its first checkpoint
            self.model.load_state_dict(init_state or initial_weights(self.config.init_from, run.model))
            logger.info("%s starts from the weights of %s", self.run_dir, self.config.init_from)
        elif resuming and dist.is_main:
            # killed before its first checkpoint: start again, on a log without the lost steps
            self.metrics_log.truncate_after(0)
            logger.warning("%s has no checkpoint yet: training it again from step 0 with its saved config", self.run_dir)
        if resuming and dist.is_main:
            self._write_config()
        self.step_model: nn.Module = self.model
        if dist.enabled:
            device_ids = [dist.device] if dist.device.type == "cuda" else None
            with distributed.collectives("sharing the initial weights"):
                self.step_model = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        if self.config.compile:
            self.step_model = torch.compile(self.step_model)
        self.precision = resolve_precision(self.config.precision, dist.device)
        if self.config.precision == "auto" and dist.is_main:
            logger.info("precision=auto: training in %s on %s", self.precision, dist.device.type)
        self.autocast = torch.autocast(dist.device.type, dtype=torch.bfloat16) if self.precision == "bf16" else contextlib.nullcontext()

    def _together(self, action: Callable[[], _T]) -> _T | None:
        """Run ``action`` here; when it fails on any process every process stops, the failing
        ones with their error and the others silently, instead of waiting for them forever."""
        error: BaseException | None = None
        result = None
        try:
            result = action()
        except (VideoAEError, OSError) as err:
            if not self.dist.enabled:
                raise
            error = err
        if distributed.any_process(self.dist, error is not None):
            if error is None:
                error = RefusedElsewhere("another process of the group could not start; its message says why")
            setattr(error, AGREED, True)
            raise error
        return result

    # -- files ----------------------------------------------------------------------------------

    def _prepare_folder(self, cleanup: contextlib.ExitStack, *, resume: bool, resume_if_exists: bool) -> int | None:
        """Lock and check the folder, write a new run's config (process 0; None elsewhere).

        Returns:
            2 * (a checkpoint to resume from) + (an existing run is continued).
        """
        if not self.dist.is_main:
            return None
        if resume and not (self.run_dir / CONFIG_FILE).is_file():
            raise InvalidInputError(f"{self.run_dir}: not a videoae run folder (no {CONFIG_FILE}); start one with videoae train --out DIR")
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            # one writer per run folder: a second `videoae train` into it stops here
            cleanup.enter_context(RunFolderLock(self.run_dir))
        except OSError as err:
            raise InvalidInputError(f"cannot write the run folder {self.run_dir}: {err.strerror or err}; choose another --out") from None
        started = started_run_files(self.run_dir)
        if resume_if_exists and started:
            self._check_same_run()
            resume = True
        if not resume and started:
            raise InvalidInputError(
                f"{self.run_dir} already holds a run; resume it with --resume {self.run_dir} (or add --resume-if-exists), or choose another --out"
            )
        if not resume:
            self._write_config()  # a resumed run's, once its checkpoint has been read: a failed resume changes nothing
            return 0
        return 2 * self._has_checkpoint() + 1

    def _check_same_run(self) -> None:
        """Refuse to continue a run of another configuration than the one asked for."""
        from videoae.training.config import read_run_config

        saved = read_run_config(self.run_dir)
        differing = config_differences(saved.to_dict(), self.run_config.to_dict())
        if differing:
            raise InvalidInputError(
                f"{self.run_dir} holds a run of another configuration ({'; '.join(differing[:3])}"
                f"{f'; and {len(differing) - 3} more' if len(differing) > 3 else ''}); "
                "give the settings it was started with, or choose another --out"
            )

    def _has_checkpoint(self) -> bool:
        """Whether a resumed run has its last checkpoint. A run without one starts again from step
        0 only when it never saved anything; one that shows progress (a best checkpoint, or log
        records past the first checkpoint's step) must have lost the file, and is refused."""
        last = self.run_dir / LAST_CHECKPOINT
        if last.is_file():
            return True
        if present(last):
            raise InvalidInputError(
                f"{last} is not a checkpoint file (a folder, a broken link or a device); restore the file to resume, or choose another --out"
            )
        progress = []
        if present(self.run_dir / BEST_CHECKPOINT):
            progress.append(f"{BEST_CHECKPOINT} exists")
        logged = last_logged_step(self.run_dir / METRICS_FILE)
        if logged > self.config.checkpoint_every:
            progress.append(f"{METRICS_FILE} logs step {logged}")
        if progress:
            raise InvalidInputError(
                f"{self.run_dir} has trained ({', '.join(progress)}) but {last} is missing, so it cannot continue; "
                f"restore {LAST_CHECKPOINT} from a backup, or start a new run with another --out (use {BEST_CHECKPOINT} with videoae eval)"
            )
        return False

    def _write_config(self) -> None:
        try:
            (self.run_dir / CHECKPOINTS_DIR).mkdir(parents=True, exist_ok=True)
            (self.run_dir / SAMPLES_DIR).mkdir(exist_ok=True)
            config = {**self.run_config.to_dict(), "videoae_version": __version__}
            write_json_atomically(self.run_dir / CONFIG_FILE, config)
        except OSError as err:
            raise InvalidInputError(f"cannot write the run folder {self.run_dir}: {err.strerror or err}; choose another --out") from None

    def _restore(self) -> None:
        path = self.run_dir / LAST_CHECKPOINT
        checkpoint = read_checkpoint(path, map_location=self.dist.device)
        check_compatible(checkpoint, self.run_config.model)
        check_weights(checkpoint)
        trained_with = checkpoint.extra_metadata.get("train_config")
        if isinstance(trained_with, dict):  # config.json edited by hand since the checkpoint was saved
            # a setting added to videoae after the run was saved has its default there
            differing = config_differences({**TrainConfig().to_dict(), **trained_with}, self.config.to_dict())
            if differing:
                raise InvalidInputError(
                    f"{self.run_dir / CONFIG_FILE} differs from the train settings {path.name} was trained with "
                    f"({'; '.join(differing[:3])}); restore those settings in {CONFIG_FILE} (only the limits "
                    "max_steps and max_minutes may change), or start a new run with --out"
                )
        state = _training_state(checkpoint, self.dist.rank, self.dist.world_size)
        self.model.load_state_dict(checkpoint.model_state)
        if checkpoint.optimizer_state is not None:
            try:
                self.optimizer.load_state_dict(checkpoint.optimizer_state)
            except (ValueError, KeyError, TypeError, RuntimeError) as err:
                raise InvalidInputError(
                    f"cannot resume from {path}: its optimizer state does not fit this run ({err}); start a new run"
                ) from None
            match_parameter_layouts(self.optimizer)
        self.step, self.best_score = checkpoint.step, state["best_score"]
        if state["rng"] is not None:
            torch.set_rng_state(state["rng"])
        if state["cuda_rng"] is not None and self.dist.device.type == "cuda":  # a run saved on a CPU has none
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.dist.device)
        self.last_eval = checkpoint.metrics or None
        if state["window"] is not None:
            steps, parts, window = state["window"]
            self.window_steps = steps
            self.window_loss = window[0].to(self.dist.device)
            self.window_parts = {name: value.to(self.dist.device) for name, value in zip(parts, window[1:])}
        if self.dist.is_main:
            self.metrics_log.truncate_after(self.step)
            saved_world = saved_world_size(checkpoint)
            if saved_world != self.dist.world_size:
                logger.warning(
                    "%s was saved by %d process(es) and continues with %d: the same data stream and global batch; "
                    "dropout and scheduled sampling draw other numbers than an uninterrupted run would",
                    path,
                    saved_world,
                    self.dist.world_size,
                )
        logger.info("resuming %s at step %d", self.run_dir, self.step)

    def _record(self, record: dict) -> None:
        if self.dist.is_main:
            self.metrics_log.append(record)

    def _save(self, name: Path) -> None:
        """Save the state after ``self.step`` (every process's RNG; files from process 0).

        Never writes non-finite weights or optimizer state: an update can make them so while the
        loss that came before it was still finite, and such a file would replace a good one.
        """
        self._check_finite()
        self._check_finite_state()
        rng = torch.get_rng_state().to(self.dist.device)  # NCCL gathers CUDA tensors only
        # The unfinished logging interval is saved too, so that a resumed run logs the same means.
        window = torch.stack([self.window_loss, *self.window_parts.values()]).float()
        on_cuda = self.dist.device.type == "cuda"
        cuda_rng = torch.cuda.get_rng_state(self.dist.device).to(self.dist.device) if on_cuda else None
        gathered, windows, cuda_gathered = [rng], [window], [cuda_rng]
        if self.dist.enabled:
            gathered = [torch.empty_like(rng) for _ in range(self.dist.world_size)]
            torch.distributed.all_gather(gathered, rng)
            windows = [torch.empty_like(window) for _ in range(self.dist.world_size)]
            torch.distributed.all_gather(windows, window)
            if on_cuda:
                cuda_gathered = [torch.empty_like(cuda_rng) for _ in range(self.dist.world_size)]
                torch.distributed.all_gather(cuda_gathered, cuda_rng)
        if not self.dist.is_main:
            return
        extra_tensors = {f"rng_rank{rank}": r.cpu() for rank, r in enumerate(gathered)}
        if on_cuda:
            extra_tensors.update({f"{CUDA_RNG}_rank{rank}": r.cpu() for rank, r in enumerate(cuda_gathered)})
        extra_tensors.update({f"{LOG_WINDOW}_rank{rank}": w.cpu() for rank, w in enumerate(windows)})
        log_window = {"steps": self.window_steps, "parts": list(self.window_parts)}
        save_checkpoint(
            self.run_dir / name,
            self.model,
            step=self.step,
            metrics=self.last_eval or {},
            optimizer=self.optimizer if name == LAST_CHECKPOINT else None,  # resume reads last; best is for using the model
            extra_tensors=extra_tensors,
            extra_metadata={
                "best_score": self.best_score,
                "train_config": self.config.to_dict(),
                LOG_WINDOW: log_window,
                WORLD_SIZE: self.dist.world_size,
            },
        )

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        config, dataset = self.config, self.dataset
        fixed_size = None if config.data == "generator" else len(dataset)
        sampler = StepBatchSampler(
            start_step=self.step,
            end_step=config.max_steps,
            global_batch=config.batch_size,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            num_items=fixed_size,
            seed=config.seed,
        )
        loader = training_loader(dataset, sampler, num_workers=config.num_workers, pin_memory=self.dist.device.type == "cuda")
        self.window_start, self.timed_steps = time.perf_counter(), 0
        started = time.monotonic()
        bar = TrainingProgress(
            step=self.step, max_steps=config.max_steps, max_minutes=config.max_minutes, started=started, enabled=self.progress
        )
        saved_at = self.step
        # torchrun forwards a terminal's Ctrl-C to workers that got it already, and kills them after its grace period
        stop = StopRequest(agent_forwards="TORCHELASTIC_RUN_ID" in os.environ or self.dist.enabled)
        reason = _GO_ON
        try:
            with distributed.collectives("training"):
                for batch in loader:
                    self._train_step(batch)
                    bar.update(self.step)
                    if self.step % config.log_every == 0 or self.step == config.max_steps:
                        self._log(bar)
                    # Evaluate before saving: a kill during the evaluation then resumes before this step
                    # and evaluates it again, so its record, samples and best checkpoint are never lost.
                    if self.step % config.eval_every == 0 or self.step == config.max_steps:
                        self._evaluate()
                    if self.step % config.checkpoint_every == 0:
                        self._save(LAST_CHECKPOINT)
                        saved_at = self.step
                    out_of_time = config.max_minutes > 0 and time.monotonic() - started > config.max_minutes * 60
                    wish = _PREEMPTED if stop.preempted else _CTRL_C if stop.requested else _OUT_OF_TIME if out_of_time else _GO_ON
                    # every process stops after the same step, whichever of them asked
                    reason = distributed.highest(self.dist, wish, doing="agreeing on when to stop")
                    if reason != _GO_ON:
                        break
                logged_now = reason == _OUT_OF_TIME and self.window_steps > 0
                if logged_now:
                    self._log(bar)  # the steps since the last log line: a short run still logs its loss
                bar.close()
                if reason == _OUT_OF_TIME and self.step % config.eval_every:
                    self._evaluate()
                if saved_at != self.step or logged_now:  # a saved logging interval must not outlive its log line
                    self._save(LAST_CHECKPOINT)
        except KeyboardInterrupt:
            # A second Ctrl-C, mid-step: the state may be half-updated, so nothing is saved.
            last = self.run_dir / LAST_CHECKPOINT
            kept = f"{last} (step {saved_at}) is kept" if last.exists() else "no checkpoint was written"
            raise TrainingInterrupted(
                f"aborted during step {self.step + 1}; {kept}; continue with: videoae train --resume {self.run_dir}"
            ) from None
        finally:
            stop.restore()
            bar.close()
        if reason in (_CTRL_C, _PREEMPTED):
            by = stop.signal_name or "a signal to another process"
            raise TrainingInterrupted(
                f"interrupted after step {self.step} ({by}); saved {self.run_dir / LAST_CHECKPOINT}; continue with: "
                f"videoae train --resume {self.run_dir} (or the same command with --resume-if-exists)",
                exit_code=EXIT_INTERRUPTED if reason == _CTRL_C else EXIT_RESUMABLE,
            )
        return TrainResult(
            self.run_dir, self.step, "max_minutes" if reason == _OUT_OF_TIME else "max_steps", self.last_eval, self.best_score
        )

    def _train_step(self, batch: torch.Tensor) -> None:
        model_config = self.run_config.model
        video = batch.to(self.dist.device, non_blocking=True).float().div_(255)  # (B, T, 1, H, W)
        inputs = video[:, : model_config.num_input_frames]
        future = video[:, model_config.num_input_frames : model_config.num_input_frames + model_config.num_future_frames]
        lr = lr_at(self.step, self.config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.autocast:
            out = self.step_model(inputs, future, ground_truth_probability=ground_truth_at(self.step, self.config))
        out["loss"].backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.window_steps += 1
        self.timed_steps += 1
        self.window_loss += out["loss"].detach()
        for part in ("reconstruction_loss", "prediction_loss"):
            if part in out:
                self.window_parts[part] = self.window_parts.get(part, 0) + out[part].detach()

    def _check_finite(self) -> None:
        if not torch.isfinite(self.window_loss):
            raise TrainingDiverged(f"the loss became {self.window_loss.item()} by step {self.step}; {self._kept()}; {self._remedy()}")

    def _check_finite_state(self) -> None:
        tensors = [*self.model.parameters()]
        for state in self.optimizer.state.values():
            tensors += [value for value in state.values() if isinstance(value, torch.Tensor) and value.is_floating_point()]
        # one host sync for all tensors: this runs at checkpoint steps only
        if bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
            return
        raise TrainingDiverged(
            f"the weights or optimizer state became non-finite (NaN or infinite) by step {self.step}; {self._kept()}; {self._remedy()}"
        )

    def _remedy(self) -> str:
        if self.config.compile and self.precision == "bf16":
            # measured: conv-p8 compiled in bf16 on a CPU is NaN from its first steps, eager it trains (docs/models.md)
            return "train without torch.compile (--set compile=false), or in fp32 (--set precision=fp32): compiled bf16 can compute NaN"
        return "lower the learning rate (--set lr=...) or clip gradients (--set grad_clip=1)"

    def _kept(self) -> str:
        last = self.run_dir / LAST_CHECKPOINT
        return f"the last good checkpoint {last} is kept" if last.exists() else "no checkpoint was written"

    def _log(self, bar: TrainingProgress) -> None:
        self._check_finite()
        values = torch.stack([self.window_loss, *self.window_parts.values()]) / self.window_steps
        distributed.all_reduce_sum(self.dist, values)
        values = (values / self.dist.world_size).tolist()  # the one host sync per log interval
        elapsed = time.perf_counter() - self.window_start
        record = {"step": self.step, "loss": values[0], "lr": lr_at(self.step - 1, self.config)}
        record.update(dict(zip(self.window_parts, values[1:])))
        record["seq_per_s"] = self.timed_steps * self.config.batch_size / max(elapsed, 1e-9)
        self._record(record)
        bar.set_stats(loss=values[0], seq_per_s=record["seq_per_s"])
        self._reset_window()
        self.window_start, self.timed_steps = time.perf_counter(), 0

    def _reset_window(self) -> None:
        """Start a new logging interval: the sums of the losses logged at its end."""
        self.window_loss = torch.zeros((), device=self.dist.device)
        self.window_parts: dict[str, torch.Tensor] = {}
        self.window_steps = 0

    def _evaluate(self) -> None:
        # Non-finite weights would give NaN scores and pictures: stop first, with the same message.
        self._check_finite()
        self._check_finite_state()
        samples = sample_gif(self.run_dir, self.step) if self.dist.is_main else None
        with torch.random.fork_rng(devices=[]):  # evaluation must not move the training RNG
            self.last_eval = evaluate_during_training(self.model, self.run_config, self.dist, samples_path=samples)
        self._record({"step": self.step, "eval": self.last_eval})
        current = score(self.last_eval, self.run_config.model)
        if not math.isfinite(current):
            raise TrainingDiverged(
                f"the evaluation score became {current} at step {self.step}; {self._kept()}; "
                "lower the learning rate (--set lr=...) or clip gradients (--set grad_clip=1)"
            )
        if self.best_score is None or current < self.best_score:
            self.best_score = current
            self._save(BEST_CHECKPOINT)
