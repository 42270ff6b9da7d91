"""Linear probe: does a trained encoder's representation know which digits a sequence shows?

Sequences of 2 moving digits are drawn from the bundled held-out "test" digits (never used in
training), so each sequence's digit classes are known. A multi-label logistic probe (10 outputs,
one per class, trained in torch with full-batch L-BFGS on standardised features) predicts which
classes appear from the encoder's features (``model.features``: the final (h, c) of every layer
after reading the input frames). It is scored by **mean average precision** over the 10 classes
(macro mAP; 1 = perfect ranking) and by per-class accuracy at probability 0.5, on sequences held
out from the probe's training. The weight decay is chosen from a small grid on a validation split,
then the probe is refitted on train + validation.

Compared: the trained encoder, the same architecture at random initialisation (fixed seed), a
probe on the raw pixels of the mean input frame, and chance (random scores: mAP = class
prevalence; always "absent": per-class accuracy = 1 - prevalence).

    python benchmarks/linear_probe.py --checkpoint RUN_OR_FILE [--sequences 2000]

Figures only: nothing here is asserted by the tests beyond the output's shape and range.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from videoae.data.labelled_sequences import labelled_moving_mnist
from videoae.evaluation.classification import average_precision
from videoae.models import build_model
from videoae.models.checkpoint import load_model

DATA_SEED = 4242  # a stream of its own: not the embedded test set, not a training stream
RANDOM_INIT_SEED = 0
DEFAULT_NUM_SEQUENCES = 2000
TRAIN_FRACTION, VALIDATION_FRACTION = 0.6, 0.2  # the rest is the test split
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # L2 on the probe's weights (the loss is a mean over examples)
LBFGS_ITERATIONS = 100
FEATURE_BATCH = 64
MIN_STD = 1e-6  # features constant over the training split are left centred, not blown up
PROBE_THREADS = 1


def encoder_features(model, videos: np.ndarray) -> torch.Tensor:
    """``model.features`` of the first ``num_input_frames`` frames of uint8 videos, (N, F) float32."""
    steps = model.config.num_input_frames
    parts = []
    for start in range(0, len(videos), FEATURE_BATCH):
        clips = torch.from_numpy(np.array(videos[start : start + FEATURE_BATCH, :steps])).float().div_(255).unsqueeze(2)
        parts.append(model.features(clips).float())  # (B, 2 * L * H)
    return torch.cat(parts)


def _standardise(fit: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    mean, std = fit.mean(0), fit.std(0).clamp_min(MIN_STD)
    return [(x - mean) / std for x in (fit, *others)]


def fit_probe(features: torch.Tensor, targets: torch.Tensor, weight_decay: float) -> torch.nn.Linear:
    """A logistic probe (one sigmoid per class) fitted by full-batch L-BFGS."""
    probe = torch.nn.Linear(features.shape[1], targets.shape[1])
    torch.nn.init.zeros_(probe.weight)
    torch.nn.init.zeros_(probe.bias)
    optimizer = torch.optim.LBFGS(probe.parameters(), max_iter=LBFGS_ITERATIONS, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(probe(features), targets) + 0.5 * weight_decay * probe.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return probe


def _scores(probe: torch.nn.Linear, features: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        logits = probe(features)
    accuracy = ((logits > 0).float() == targets).float().mean(0)  # logit 0: probability 0.5
    return {"map": float(average_precision(logits, targets).nanmean()), "accuracy": float(accuracy.mean())}


def probe_features(features: torch.Tensor, targets: torch.Tensor) -> dict:
    """Choose the weight decay on the validation split, refit on train + validation, score on test."""
    threads = torch.get_num_threads()
    # Products this small gain nothing from threads, and on a busy machine the threads' waiting
    # for each other made single fits take seconds instead of tenths.
    torch.set_num_threads(PROBE_THREADS)
    try:
        return _probe_splits(features, targets)
    finally:
        torch.set_num_threads(threads)


def _probe_splits(features: torch.Tensor, targets: torch.Tensor) -> dict:
    n = len(features)
    n_train, n_val = int(TRAIN_FRACTION * n), int(VALIDATION_FRACTION * n)
    train, val, test = slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)
    x_train, x_val = _standardise(features[train], features[val])
    chosen = max(WEIGHT_DECAYS, key=lambda wd: _scores(fit_probe(x_train, targets[train], wd), x_val, targets[val])["map"])
    fit = slice(0, n_train + n_val)
    x_fit, x_test = _standardise(features[fit], features[test])
    return {**_scores(fit_probe(x_fit, targets[fit], chosen), x_test, targets[test]), "weight_decay": chosen}


def run_probe(model, *, num_sequences: int = DEFAULT_NUM_SEQUENCES, seed: int = DATA_SEED) -> dict:
    """Probe scores of ``model``'s encoder, its random-init twin, raw pixels and chance.

    Returns:
        ``{"trained", "random_init", "pixels": {"map", "accuracy", "weight_decay"}, "chance":
        {"map", "accuracy"}, "data": {...}}``; scores on the test split, in [0, 1].
    """
    if num_sequences < 10:
        raise ValueError(f"need at least 10 sequences to split into train, validation and test, got {num_sequences}")
    model = model.eval()
    videos, labels = labelled_moving_mnist(num_sequences, num_frames=model.config.num_input_frames, seed=seed)
    targets = torch.from_numpy(labels)
    torch.manual_seed(RANDOM_INIT_SEED)
    random_model = build_model(model.config).eval()
    pixels = torch.from_numpy(videos.mean(axis=1, dtype=np.float32).reshape(num_sequences, -1) / 255)
    test = targets[int(TRAIN_FRACTION * num_sequences) + int(VALIDATION_FRACTION * num_sequences) :]
    prevalence = test.mean(0)
    return {
        "trained": probe_features(encoder_features(model, videos), targets),
        "random_init": probe_features(encoder_features(random_model, videos), targets),
        "pixels": probe_features(pixels, targets),
        "chance": {"map": float(prevalence[prevalence > 0].mean()), "accuracy": float((1 - prevalence).mean())},
        "data": {"num_sequences": num_sequences, "num_test": len(test), "seed": seed, "digits": "bundled test digits"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, metavar="RUN_OR_FILE", help="a run folder or a checkpoint file")
    parser.add_argument("--sequences", type=int, default=DEFAULT_NUM_SEQUENCES, help="labelled sequences in all (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DATA_SEED, help="stream of the sequences (default %(default)s)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model = load_model(args.checkpoint)
    result = run_probe(model, num_sequences=args.sequences, seed=args.seed)
    config = model.config
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"model: hidden_size={config.hidden_size} num_layers={config.num_layers}, features = final (h, c) of every layer")
    print(f"data: {args.sequences} sequences of 2 digits from the bundled test digits; probe test split {result['data']['num_test']}")
    print(f"{'representation':<34}{'mAP':>8}{'acc@0.5':>10}{'weight decay':>14}")
    names = {"trained": "trained encoder", "random_init": "same architecture, random init", "pixels": "raw pixels (mean input frame)"}
    for key, label in names.items():
        row = result[key]
        print(f"{label:<34}{row['map']:>8.3f}{row['accuracy']:>10.3f}{row['weight_decay']:>14g}")
    print(f"{'chance / always absent':<34}{result['chance']['map']:>8.3f}{result['chance']['accuracy']:>10.3f}")
    print("mAP: mean over the 10 classes of average precision; acc@0.5: per-class accuracy at probability 0.5, averaged")
    print(f"took {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
