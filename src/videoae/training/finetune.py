"""Fine-tuning a classifier on labelled videos: a small loop of its own, writing a run folder as training does.

The folder (:mod:`videoae.run_folder` names its files) holds ``config.json`` (see
:mod:`videoae.training.finetune_config`), ``metrics.jsonl`` (the training loss every ``log_every``
steps, the validation score every ``eval_every``), ``checkpoints/last.safetensors`` (weights,
optimizer, RNG, step: for resuming) and ``checkpoints/best.safetensors`` (the best validation score
so far), written atomically, under the folder's lock. The batch of step ``s`` is a function of
``(seed, s)`` and the RNG state is saved, so a resumed run ends with the same weights as one that
never stopped (bit-identical on CPU). A stop signal (Ctrl-C) saves after the current step.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from videoae import __version__
from videoae.atomic import write_json_atomically
from videoae.data.labels import Labels, check_labels
from videoae.data.pixels import videos_to_tensor
from videoae.data.training_batches import StepBatchSampler
from videoae.errors import InvalidInputError
from videoae.evaluation.classification import SCORE_NAMES, chance_score, classification_score, classifier_logits
from videoae.models.checkpoint import CLASSIFIER_KEY, check_compatible, read_checkpoint, save_checkpoint
from videoae.models.classifier import VideoClassifier
from videoae.progress import shows_progress
from videoae.run_folder import BEST_CHECKPOINT, CONFIG_FILE, LAST_CHECKPOINT, METRICS_FILE, RunFolderLock, started_run_files
from videoae.training.finetune_config import FinetuneConfig, FinetuneRunConfig, read_finetune_config
from videoae.training.loop import TrainingDiverged, TrainingInterrupted, match_parameter_layouts
from videoae.training.metrics_log import MetricsLog
from videoae.training.progress import TrainingProgress
from videoae.training.runtime import resolve_precision, training_settings
from videoae.training.schedules import lr_at, make_optimizer
from videoae.training.stop_request import StopRequest
from videoae.validation import resolve_device

logger = logging.getLogger(__name__)

SPLIT_STREAM = 7  # the validation split's permutation: a stream of the seed of its own, apart from the batches'
DROPOUT_SEED_OFFSET = 1_000_003  # dropout's RNG stream after the classifier is built (as training's processes)
RNG_TENSOR = "rng"  # checkpoint entry: torch's CPU RNG state after the saved step


@dataclass
class FinetuneResult:
    """What a finished run left behind.

    Attributes:
        run_dir: the run folder.
        step: optimizer steps done in all.
        stop_reason: ``"max_steps"``, or ``"patience"`` (no better validation score for ``patience`` evaluations).
        score_name: ``"map"`` (multi-label) or ``"accuracy"`` (single-label); higher is better.
        best_score: the best validation score, kept in ``checkpoints/best.safetensors``.
        best_step: the step it was reached at.
        last_eval: the last validation record (the score and the loss).
        chance: what guessing scores on the validation videos (:func:`~videoae.evaluation.classification.chance_score`).
        num_validation: the number of validation videos.
    """

    run_dir: Path
    step: int
    stop_reason: str
    score_name: str
    best_score: float
    best_step: int
    last_eval: dict
    chance: float
    num_validation: int


def labels_digest(targets: np.ndarray) -> str:
    """A short digest of labels, stored in the run's config so a resumed run refuses other labels."""
    return hashlib.sha256(np.ascontiguousarray(targets).tobytes()).hexdigest()[:16]


def _check_videos(classifier: VideoClassifier, videos: np.ndarray, name: str) -> None:
    shape = tuple(classifier.config.frame_shape)
    ndim = getattr(videos, "ndim", 0)
    frame = videos.shape[2:] if ndim == 5 else (1, *videos.shape[2:]) if ndim == 4 else None
    if not isinstance(videos, np.ndarray) or frame != shape or len(videos) == 0:
        raise InvalidInputError(
            f"{name} must be a non-empty array (N, T, H, W) or (N, T, C, H, W) of frames {list(shape)} (C, H, W), "
            f"got {getattr(videos, 'shape', type(videos).__name__)}"
        )
    if videos.shape[1] < classifier.config.num_input_frames:
        raise InvalidInputError(
            f"{name} have {videos.shape[1]} frames but the classifier reads {classifier.config.num_input_frames}; give longer videos"
        )


def finetune(
    classifier: VideoClassifier,
    videos: np.ndarray,
    labels: np.ndarray | Labels,
    run_dir: str | Path,
    *,
    config: FinetuneConfig | None = None,
    validation: tuple[np.ndarray, np.ndarray | Labels] | None = None,
    data: dict | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> FinetuneResult:
    """Train ``classifier`` on labelled videos, writing (or continuing) a run folder.

    Args:
        classifier: the classifier to train (its weights are replaced by the last checkpoint's when resuming).
        videos: (N, T, H, W) or (N, T, C, H, W) videos, uint8 or float in [0, 1].
        labels: (N,) integer classes or (N, K) multi-hot, matching the classifier's task and classes.
        run_dir: the run folder.
        config: how to train (default :class:`FinetuneConfig`).
        validation: held-out (videos, labels) that choose the best checkpoint; default: a
            ``validation_fraction`` of ``videos``, drawn with the seed, is held out of training.
        data: more facts about the data for ``config.json`` (e.g. file paths).
        resume: continue the run in ``run_dir`` from its last checkpoint.
        progress: show a progress bar: None (default) only in a notebook, True always, False never.

    Raises:
        InvalidInputError: wrong videos or labels, or a folder that holds another run.
        TrainingInterrupted: a stop signal; the state after the last finished step is saved.
    """
    config = config or FinetuneConfig()
    device = resolve_device(config.device)
    with training_settings(device), contextlib.ExitStack() as cleanup:
        return _Finetuner(classifier, videos, labels, Path(run_dir), config, validation, data, resume, progress, device, cleanup).run()


def _split(
    videos: np.ndarray, labels: Labels, validation: tuple[np.ndarray, Labels] | None, config: FinetuneConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices of the training videos, validation videos, validation targets): the given validation
    set, or a ``validation_fraction`` of the videos held out by a permutation of the seed."""
    if validation is not None:
        return np.arange(len(videos)), validation[0], validation[1].targets
    if len(videos) < 2:
        raise InvalidInputError("need at least 2 labelled videos: one to train on and one to hold out for validation")
    order = np.random.default_rng([config.seed, SPLIT_STREAM]).permutation(len(videos))
    held_out = max(1, round(config.validation_fraction * len(videos)))
    val_index = np.sort(order[:held_out])
    return np.sort(order[held_out:]), videos[val_index], labels.targets[val_index]


class _Finetuner:
    def __init__(
        self,
        classifier: VideoClassifier,
        videos: np.ndarray,
        labels: np.ndarray | Labels,
        run_dir: Path,
        config: FinetuneConfig,
        validation: tuple[np.ndarray, np.ndarray | Labels] | None,
        data: dict | None,
        resume: bool,
        progress: bool | None,
        device: torch.device,
        cleanup: contextlib.ExitStack,
    ) -> None:
        self.classifier, self.config, self.run_dir, self.device = classifier.to(device), config, run_dir, device
        self.task = classifier.classifier_config.task
        self.progress = shows_progress(progress)
        # everything is checked before the run folder is made or touched
        _check_videos(classifier, videos, "videos")
        labels = self._checked(labels, len(videos), "labels")
        if validation is not None:
            _check_videos(classifier, validation[0], "validation videos")
            validation = (validation[0], self._checked(validation[1], len(validation[0]), "validation labels"))
        self.train_index, self.val_videos, self.val_targets = _split(videos, labels, validation, config)
        self.videos, self.targets = videos, labels.targets
        facts = {"num_videos": len(videos), "num_train": len(self.train_index), "num_validation": len(self.val_videos)}
        facts["labels_sha256"] = labels_digest(labels.targets)
        self.run_config = FinetuneRunConfig(classifier.config, classifier.classifier_config, config, {**(data or {}), **facts})
        self.schedule = config.optimisation()  # the optimizer and learning rate in the training loop's terms
        self.optimizer = make_optimizer(classifier, self.schedule, device)
        self.precision = resolve_precision(config.precision, device)
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16) if self.precision == "bf16" else contextlib.nullcontext()
        self.step, self.best_score, self.best_step, self.evals_since_best = 0, -math.inf, 0, 0
        self.last_eval: dict = {}
        self.window_loss, self.window_steps = 0.0, 0
        self.window_started, self.timed_steps = time.perf_counter(), 0
        self._prepare_folder(cleanup, resume)
        self.metrics_log = MetricsLog(run_dir / METRICS_FILE)
        torch.manual_seed(config.seed + DROPOUT_SEED_OFFSET)
        if resume:
            self._restore()
        else:
            self._save(LAST_CHECKPOINT)  # step 0: a run killed at once resumes with its initial weights

    def _checked(self, labels: np.ndarray | Labels, num_videos: int, name: str) -> Labels:
        """Labels checked, and of the classifier's task and classes."""
        wanted = self.classifier.classifier_config
        if not isinstance(labels, Labels):
            labels = check_labels(labels, num_videos, name, num_classes=wanted.num_classes if np.ndim(labels) == 1 else None)
        if labels.task != wanted.task or labels.num_classes != wanted.num_classes:
            raise InvalidInputError(
                f"{name} are {labels.task} over {labels.num_classes} classes but the classifier is {wanted.task} over "
                f"{wanted.num_classes}; build the classifier for these labels"
            )
        if len(labels.targets) != num_videos:
            raise InvalidInputError(f"{name}: {len(labels.targets):,} labels for {num_videos:,} videos; give one label per video")
        return labels

    # -- files ----------------------------------------------------------------------------------

    def _prepare_folder(self, cleanup: contextlib.ExitStack, resume: bool) -> None:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            cleanup.enter_context(RunFolderLock(self.run_dir))  # one writer per run folder
        except OSError as err:
            raise InvalidInputError(f"cannot write the run folder {self.run_dir}: {err.strerror or err}; choose another --out") from None
        if resume:
            saved = read_finetune_config(self.run_dir)
            differing = saved.differences(self.run_config)
            if differing:
                raise InvalidInputError(
                    f"{self.run_dir} holds a run of other settings or data ({'; '.join(differing[:3])}); "
                    "resume it with the same classifier, data and labels (only max_steps may change), or choose another --out"
                )
            if not (self.run_dir / LAST_CHECKPOINT).is_file():
                raise InvalidInputError(
                    f"{self.run_dir / LAST_CHECKPOINT} is missing, so the run cannot continue; start a new run with another --out"
                )
        elif started_run_files(self.run_dir):
            raise InvalidInputError(f"{self.run_dir} already holds a run; resume it with --resume {self.run_dir}, or choose another --out")
        # a resumed run's config records its new limits too
        write_json_atomically(self.run_dir / CONFIG_FILE, {**self.run_config.to_dict(), "videoae_version": __version__})

    def _restore(self) -> None:
        path = self.run_dir / LAST_CHECKPOINT
        checkpoint = read_checkpoint(path, map_location=self.device)
        check_compatible(checkpoint, self.classifier.config)
        state = checkpoint.extra_metadata
        rng = checkpoint.extra_tensors.get(RNG_TENSOR)
        numbers = [state.get(key) for key in ("best_score", "best_step", "evals_since_best", "window_loss", "window_steps")]
        if (
            state.get(CLASSIFIER_KEY) != self.classifier.classifier_config.to_dict()
            or rng is None
            or rng.dtype != torch.uint8
            or rng.shape != torch.get_rng_state().shape
            or not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers[1:])
            or not (numbers[0] is None or isinstance(numbers[0], float))
        ):
            raise InvalidInputError(
                f"{path} is not a checkpoint of this fine-tuning run, or it is damaged; start a new run with another --out"
            )
        try:
            self.classifier.load_state_dict(checkpoint.model_state)
            self.optimizer.load_state_dict(checkpoint.optimizer_state)
        except (ValueError, KeyError, TypeError, RuntimeError) as err:
            raise InvalidInputError(f"cannot resume from {path}: it does not fit this classifier ({str(err).splitlines()[0]})") from None
        match_parameter_layouts(self.optimizer)
        torch.set_rng_state(rng)
        self.step = checkpoint.step
        self.best_score, self.best_step, self.evals_since_best, self.window_loss, self.window_steps = numbers
        self.best_score = -math.inf if self.best_score is None else self.best_score
        self.last_eval = checkpoint.metrics
        self.metrics_log.truncate_after(self.step)
        logger.info("resuming %s at step %d", self.run_dir, self.step)

    def _save(self, name: Path) -> None:
        save_checkpoint(
            self.run_dir / name,
            self.classifier,
            step=self.step,
            metrics=self.last_eval,
            optimizer=self.optimizer if name == LAST_CHECKPOINT else None,  # the best one is for using the classifier
            extra_tensors={RNG_TENSOR: torch.get_rng_state()},
            extra_metadata={
                CLASSIFIER_KEY: self.classifier.classifier_config.to_dict(),
                "finetune_config": self.config.to_dict(),
                "best_score": None if self.best_score == -math.inf else self.best_score,
                "best_step": self.best_step,
                "evals_since_best": self.evals_since_best,
                "window_loss": self.window_loss,  # the unfinished logging interval: a resumed run logs the same means
                "window_steps": self.window_steps,
            },
        )

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> FinetuneResult:
        config = self.config
        sampler = StepBatchSampler(
            start_step=self.step,
            end_step=config.max_steps,
            global_batch=config.batch_size,
            num_items=len(self.train_index),
            seed=config.seed,
        )
        bar = TrainingProgress(step=self.step, max_steps=config.max_steps, max_minutes=0.0, started=time.monotonic(), enabled=self.progress)
        stop, reason = StopRequest(), "max_steps"
        saved_at = self.step
        try:
            while self.step < config.max_steps and not stop.requested:
                self._train_step(sampler.indices(self.step))
                bar.update(self.step)
                if self.step % config.log_every == 0 or self.step == config.max_steps:
                    self._log(bar)
                if self.step % config.eval_every == 0 or self.step == config.max_steps:
                    self._evaluate()  # before saving: a kill during it evaluates the step again on resume
                    if config.patience and self.evals_since_best >= config.patience:
                        reason = "patience"
                if self.step % config.checkpoint_every == 0 or reason != "max_steps" or stop.requested:
                    self._save(LAST_CHECKPOINT)
                    saved_at = self.step
                if reason != "max_steps":
                    break
            if saved_at != self.step:
                self._save(LAST_CHECKPOINT)
        except KeyboardInterrupt:  # a second Ctrl-C, mid-step: nothing half-updated is saved
            raise TrainingInterrupted(
                f"aborted during step {self.step + 1}; {self.run_dir / LAST_CHECKPOINT} (step {saved_at}) is kept"
            ) from None
        finally:
            stop.restore()
            bar.close()
            self.metrics_log.close()
        if stop.requested and self.step < config.max_steps:
            raise TrainingInterrupted(
                f"interrupted after step {self.step}; saved {self.run_dir / LAST_CHECKPOINT}; continue with: videoae finetune --resume {self.run_dir}"
            )
        if not self.last_eval:
            self._evaluate()
        chance = chance_score(torch.from_numpy(self.val_targets), self.task)
        return FinetuneResult(
            self.run_dir,
            self.step,
            reason,
            SCORE_NAMES[self.task],
            self.best_score,
            self.best_step,
            self.last_eval,
            chance,
            len(self.val_videos),
        )

    def _batch(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        steps = self.classifier.config.num_input_frames
        frames = videos_to_tensor(self.videos[index][:, :steps], self.device)  # (B, T_in, C, H, W)
        return frames, torch.from_numpy(self.targets[index]).to(self.device)

    def _train_step(self, positions: list[int]) -> None:
        frames, targets = self._batch(self.train_index[positions])
        lr = lr_at(self.step, self.schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.autocast:
            loss = self.classifier.loss(self.classifier(frames), targets)
        loss.backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_([p for p in self.classifier.parameters() if p.requires_grad], self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.window_loss += loss.item()  # the sizes fine-tuning runs at make this sync cheap beside the step
        self.window_steps += 1
        self.timed_steps += 1

    def _log(self, bar: TrainingProgress) -> None:
        mean = self.window_loss / max(1, self.window_steps)
        if not math.isfinite(mean):
            raise TrainingDiverged(
                f"the loss became {mean} by step {self.step}; {self.run_dir / LAST_CHECKPOINT} is kept; lower the learning rate (--lr)"
            )
        seq_per_s = self.timed_steps * self.config.batch_size / max(time.perf_counter() - self.window_started, 1e-9)
        self.metrics_log.append({"step": self.step, "loss": mean, "lr": lr_at(self.step - 1, self.schedule), "seq_per_s": seq_per_s})
        bar.set_stats(loss=mean, seq_per_s=seq_per_s)
        self.window_loss, self.window_steps = 0.0, 0
        self.window_started, self.timed_steps = time.perf_counter(), 0

    def _evaluate(self) -> None:
        with torch.random.fork_rng(devices=[]):  # scoring must not move the training RNG
            logits = classifier_logits(
                self.classifier, self.val_videos, batch_size=self.config.eval_batch_size, bf16=self.precision == "bf16"
            )
        targets = torch.from_numpy(self.val_targets)
        record = {**classification_score(logits, targets, self.task), "loss": float(self.classifier.loss(logits, targets))}
        self.last_eval = record
        self.metrics_log.append({"step": self.step, "eval": record})
        score = record[SCORE_NAMES[self.task]]
        if score > self.best_score:
            self.best_score, self.best_step, self.evals_since_best = score, self.step, 0
            self._save(BEST_CHECKPOINT)
        else:
            self.evals_since_best += 1
