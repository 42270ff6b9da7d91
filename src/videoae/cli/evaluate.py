"""``videoae eval``, ``videoae predict`` and ``videoae features``: using a trained model."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from videoae.cli.paths import check_output_file, check_outputs_spare_inputs, check_path_names, check_writable_parent
from videoae.cli.progress import progress, say
from videoae.cli.tables import metrics_table
from videoae.errors import InvalidInputError
from videoae.validation import check_int

DEFAULT_BATCH_SIZE = 64
DEFAULT_VIDEO_FPS = 10.0  # the MP4 predictions of inputs that have no frame rate of their own
CHECKPOINT_HELP = "a run folder (its best checkpoint, else its last) or a .safetensors checkpoint file"
DATA_HELP = (
    "embedded (default: the embedded test set, generated as long as needed), standard (mnist_test_seq.npy), "
    "standard-test (its last 1,000 sequences, the seed notebook's test split), or a path to videos "
    "(.npy/.npz, GIF, folder of frames), or video files cut into clips that do not overlap (.mp4 .mkv .webm .avi .mov: "
    "one file, a folder searched recursively, a glob, a .txt list, or a clip cache)"
)
LAYOUT_HELP = (
    "axis order of a 4-D array file: TNHW (frames first, like mnist_test_seq.npy; the default, with a warning "
    "where the file then holds more frames per video than videos) or NTHW (sequences first, like generate())"
)
# An autoencoder-only model has no horizon of its own; its baselines are scored on this many frames.
AUTOENCODER_FUTURE_FRAMES = 10


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``videoae eval``, ``videoae predict`` and ``videoae features``."""
    evaluate = commands.add_parser(
        "eval",
        help="score a trained model (BCE, MSE, MAE, SSIM, PSNR) beside copy-last, mean and blank baselines",
        description="Score a model's predictions and reconstructions per frame, beside three baselines, on the "
        "embedded test set, the standard test file or your own videos; optionally write the numbers as JSON "
        "and the per-frame curves as a PNG.",
    )
    evaluate.add_argument("checkpoint", metavar="CKPT", help=CHECKPOINT_HELP)
    _add_data_options(evaluate)
    evaluate.add_argument("--future", type=int, metavar="K", help="frames to predict and score (default: as trained, capped by the data)")
    _add_model_options(evaluate)
    evaluate.add_argument("--resize", action="store_true", help="resize a file's frames to the model's frame size")
    evaluate.add_argument("--json", metavar="OUT.json", help="write the scores, with per-frame curves, as JSON")
    evaluate.add_argument("--plot", metavar="OUT.png", help="draw the per-frame curves (default: beside --json, as OUT.png)")
    evaluate.add_argument("--no-plot", action="store_true", help="draw no plot beside --json")
    evaluate.set_defaults(run=_run_eval)

    predict = commands.add_parser(
        "predict",
        help="predict the frames that follow your videos; write GIFs, PNG strips, MP4s and .npy frames",
        description="For each video: a GIF and a PNG strip of input | ground truth | reconstruction | prediction, "
        "NAME.mp4 (the input frames followed by the predicted ones, with PyAV installed) "
        "and the predicted frames as float32 NAME_prediction.npy (K, H, W) in [0, 1].",
    )
    predict.add_argument("checkpoint", metavar="CKPT", help=CHECKPOINT_HELP)
    predict.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="videos: .mp4 .mkv .webm .avi .mov (frames resized to cover the model's and centre-cropped), a folder of them, "
        ".npy/.npz (one or several videos), GIF, or a folder of PNG/JPEG frames",
    )
    predict.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="folder to write into (created if missing)")
    predict.add_argument("--future", type=int, metavar="K", help="frames to predict (default: as trained; any number works)")
    _add_model_options(predict)
    predict.add_argument("--layout", choices=("TNHW", "NTHW"), default=None, help=LAYOUT_HELP)
    predict.add_argument("--resize", action="store_true", help="resize frames of another size to the model's")
    predict.set_defaults(run=_run_predict)

    features = commands.add_parser(
        "features",
        help="write the encoder's representation of each sequence as a float32 .npy",
        description="One feature vector per sequence: the encoder's final h and c of every layer after reading the "
        "input frames, concatenated, float32: (N, 2 * layers * hidden) for a flat LSTM; for a ConvLSTM each map kept "
        "whole, flattened in (channel, row, column) order, (N, 2 * layers * channels * grid height * grid width). "
        "Of the states measured for classifying digits (docs/evaluation.md), all layers' h and c with the maps kept "
        "whole served best: pooling the maps over the grid, or keeping only the last h, lost most of what they hold.",
    )
    features.add_argument("checkpoint", metavar="CKPT", help=CHECKPOINT_HELP)
    features.add_argument("data", metavar="DATA", help=DATA_HELP)
    features.add_argument("-o", "--output", required=True, metavar="FEATS.npy", help="file to write")
    features.add_argument("--num-sequences", type=int, metavar="N", help="the first N sequences (default all; 10,000 embedded)")
    features.add_argument("--num-digits", type=int, metavar="K", help="digits per embedded sequence (default 2)")
    _add_model_options(features)
    features.add_argument("--layout", choices=("TNHW", "NTHW"), default=None, help=LAYOUT_HELP)
    features.add_argument("--resize", action="store_true", help="resize a file's frames to the model's frame size")
    features.set_defaults(run=_run_features)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="embedded", metavar="DATA", help=DATA_HELP)
    parser.add_argument("--num-sequences", type=int, metavar="N", help="score the first N sequences (default all; 10,000 embedded)")
    parser.add_argument(
        "--num-digits", type=int, metavar="K", help="digits per embedded sequence (default 2; 1 and 3 are the paper's out-of-domain tests)"
    )
    parser.add_argument("--layout", choices=("TNHW", "NTHW"), default=None, help=LAYOUT_HELP)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-frames", type=int, metavar="N", help="frames the encoder reads (default: as trained, 10 for every preset)")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="B", help="sequences per forward pass (default %(default)s)"
    )
    parser.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda or cuda:N (default auto)")


# -- checks shared by the commands ------------------------------------------------------------------


def _check_positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name.replace("-", "_"))
        if value is not None:
            check_int(f"--{name}", value, 1)


def _load_model(args: argparse.Namespace):
    from videoae.evaluation.predict import model_frame_size
    from videoae.models.checkpoint import load_model, resolve_checkpoint_path

    path = resolve_checkpoint_path(args.checkpoint)
    model = load_model(path, device=args.device)
    model_frame_size(model)  # a model of images, or a clear refusal
    return model, path


def _size(size: tuple[int, int]) -> str:
    return f"{size[1]}x{size[0]}"


def _data_name(source: str) -> str:
    from videoae.data.evaluation_sets import source_name

    return source_name(source)


def read_evaluation_data(args: argparse.Namespace, model_size: tuple[int, int], num_frames: int, channels: int = 1):
    """The data named by DATA / --data, at most ``num_frames`` frames per sequence, checked against the model."""
    from videoae.data.evaluation_sets import DATA_SOURCES, EMBEDDED, evaluation_data
    from videoae.data.video_clips import is_video_collection
    from videoae.errors import DataNotFoundError

    spec = args.data
    is_file = spec not in DATA_SOURCES
    is_videos = is_file and is_video_collection(spec)  # clips fitted to the model's frames, no --resize needed
    if channels != 1 and not is_videos:
        raise InvalidInputError(f"this model reads RGB frames, and {_data_name(spec)} is grayscale; score it on video files (.mp4 ...)")
    if args.num_digits is not None and spec != EMBEDDED:
        raise InvalidInputError(f"--num-digits only applies to the embedded test set, not to {_data_name(spec)}")
    try:
        # A file is read whole before scoring starts: say so, or a large one looks like a hang.
        with progress(1, f"reading {spec}", "file") if is_file else contextlib.nullcontext():
            data = evaluation_data(
                spec,
                num_frames=num_frames,
                num_sequences=args.num_sequences,
                num_digits=args.num_digits,
                allow_fewer_frames=True,
                layout=args.layout,
                frame_size=model_size if (args.resize or is_videos) and is_file else None,
                channels=channels,
            )
    except DataNotFoundError:
        from videoae.data.standard_test_set import standard_test_set_path

        raise InvalidInputError(
            f"the standard test file is not at {standard_test_set_path()}; download it with `videoae data download moving-mnist` "
            f"(819 MB, md5-checked) or evaluate on --data {EMBEDDED}"
        ) from None
    if tuple(data.frame_size) != tuple(model_size):
        hint = "pass --resize to resize them" if is_file else "use a model of that frame size, or your own videos with a path and --resize"
        raise InvalidInputError(
            f"the model takes {_size(model_size)} frames but {_data_name(data.source)} has {_size(data.frame_size)} frames; {hint}"
        )
    return data


def _layout_hint(args: argparse.Namespace, data) -> str:
    from videoae.data.evaluation_sets import DATA_SOURCES
    from videoae.data.video_io import layout_hint

    return "" if data.source in DATA_SOURCES else layout_hint(args.data, data.num_sequences, data.num_frames, args.layout)


# -- eval ---------------------------------------------------------------------------------------------


def _run_eval(args: argparse.Namespace) -> int:
    from videoae.evaluation.evaluate import evaluate_data
    from videoae.evaluation.predict import model_channels, model_frame_size

    _check_positive(args, "future", "input-frames", "num-sequences", "num-digits", "batch-size")
    json_path = check_output_file(args.json, (".json",), "--json") if args.json else None
    if args.plot and args.no_plot:
        raise InvalidInputError("--plot and --no-plot contradict each other; give one of them")
    plot_path = None if args.no_plot else args.plot or (json_path.with_suffix(".png") if json_path else None)
    if plot_path is not None:
        plot_path = check_output_file(plot_path, (".png",), "--plot")
    for option, path in (("--json", json_path), ("--plot", plot_path)):
        if path is not None:
            check_outputs_spare_inputs([path], [args.data, args.checkpoint], option)
    model, checkpoint = _load_model(args)
    config, model_size = model.config, model_frame_size(model)
    if args.plot and not config.predict:
        raise InvalidInputError("--plot draws the prediction's per-frame curves, and this model has no future predictor; drop --plot")
    num_input = args.input_frames or config.num_input_frames
    wanted_future = args.future or (config.num_future_frames if config.predict else AUTOENCODER_FUTURE_FRAMES)
    data = read_evaluation_data(args, model_size, num_input + wanted_future, model_channels(model))
    available = data.num_frames - num_input
    if available < 1:
        raise InvalidInputError(
            f"{_data_name(data.source)} has {data.num_frames} frames per sequence{_layout_hint(args, data)}: none are left after {num_input} "
            "input frames to score predictions on; lower --input-frames"
        )
    if args.future is not None and args.future > available:
        raise InvalidInputError(
            f"{_data_name(data.source)} has {data.num_frames} frames per sequence{_layout_hint(args, data)}: after {num_input} input frames at most {available} can be scored; "
            f"use --future {available} or less (or --data embedded, which generates as many frames as needed)"
        )
    future = min(wanted_future, available)
    # What is scored, before the scoring: a log shows at once what the minutes ahead are spent on.
    print(f"checkpoint {checkpoint}")
    print(_data_line({**data.describe(), "num_input_frames": num_input, "num_future_frames": future}))
    with progress(data.num_sequences, f"scoring {_data_name(data.source)}", "seq") as on_progress:
        result = evaluate_data(
            model, data, num_input_frames=num_input, num_future=future, batch_size=args.batch_size, on_progress=on_progress
        )
    result.pop("units")  # the table's last lines and docs/evaluation.md state them
    record = {key: result[key] for key in ("prediction", "reconstruction", "baselines") if key in result}
    record["data"], record["checkpoint"] = result["data"], str(checkpoint)
    print(metrics_table(record, model_size))
    if json_path is not None:
        from videoae.atomic import write_json_atomically

        print(f"wrote {write_json_atomically(json_path, record)}")
    if plot_path is not None:
        print(_write_plot(record, plot_path))
    return 0


def _data_line(data: dict) -> str:
    digits = f", {data['num_digits']} digits" if data.get("num_digits") else ""
    return (
        f"data: {data['source']}, {data['num_sequences']} sequences{digits}, "
        f"{data['num_input_frames']} input frames -> {data['num_future_frames']} predicted frames"
    )


def _write_plot(record: dict, path: Path) -> str:
    from videoae.reporting import plot_per_frame

    if "prediction" not in record:
        return "no per-frame plot: the model has no future predictor"
    return f"wrote {plot_per_frame(record, path)}"


# -- predict ------------------------------------------------------------------------------------------


def _video_name(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def _read_inputs(args: argparse.Namespace, model_size: tuple[int, int], channels: int = 1) -> list[tuple[str, str, object]]:
    """Every input as (name, path, float32 (N, T, H, W) videos), checked before anything is written."""
    from videoae.data.video_clips import find_videos, is_video_collection
    from videoae.data.video_containers import is_container
    from videoae.data.video_io import DEFAULT_LAYOUT, read_container, read_videos
    from videoae.evaluation.predict import check_frames_fit

    # a folder (or glob, or list) of video files stands for each of its videos
    inputs = [str(v) for given in args.inputs for v in (find_videos(given) if is_video_collection(given) else [given])]
    loaded, resized = [], []
    with progress(len(inputs), "reading videos", "file") as on_progress:
        for given in inputs:
            path = Path(given)
            name = _video_name(path.resolve()) if path.exists() else _video_name(path)
            if is_container(path):  # fitted to the model's frames as it is decoded: resized to cover, centre-cropped
                videos = read_container(path, channels=channels, size=model_size)[None]  # uint8 (1, T, C, H, W)
                loaded.append((name, given, videos[:, :, 0] if channels == 1 else videos))
                on_progress(1)
                continue
            if channels != 1:
                raise InvalidInputError(f"{given}: this model reads RGB frames; give it video files (.mp4 .mkv .webm .avi .mov)")
            videos = read_videos(path, layout=args.layout)
            check_frames_fit(videos, model_size, given)  # a picture of videos is refused, --resize or not
            size = tuple(videos.shape[2:])
            if size != model_size:
                if not args.resize:
                    raise InvalidInputError(
                        f"{given}: frames are {_size(size)} but the model takes {_size(model_size)}; pass --resize to resize them"
                    )
                resized.append(f"warning: {given}: resizing {_size(size)} frames to the model's {_size(model_size)}")
                videos = read_videos(path, layout=args.layout or DEFAULT_LAYOUT, frame_size=model_size)  # warned once already
            loaded.append((name, given, videos))
            on_progress(1)
    for warning in resized:
        print(warning, file=sys.stderr)
    return loaded


def _mp4_rate(inputs: list[tuple[str, str, object]]):
    """The frame rate of each input's MP4 output: a video file's own, 10 for other inputs; no MP4
    output (None) where PyAV is missing, said once."""
    from videoae.data.video_containers import is_container, probe
    from videoae.errors import MissingDependencyError

    try:
        from videoae.data.video_containers import import_av

        import_av()
    except MissingDependencyError as err:
        print(f"note: no MP4 predictions: {err}", file=sys.stderr)
        return lambda given: None
    return lambda given: probe(given).fps if is_container(given) else DEFAULT_VIDEO_FPS


def _output_names(args: argparse.Namespace, inputs: list[tuple[str, str, object]], out_dir: Path, mp4_fps) -> list[list[str]]:
    """The name of every video's files (NAME, or NAME_i for a file of several videos), checked
    before any work: no two videos share a name, and no file written replaces an input or fails
    for its name or its place."""
    from videoae.reporting.prediction_files import prediction_files

    owners: dict[str, str] = {}
    names, outputs = [], []
    for name, given, videos in inputs:
        names.append([name] if len(videos) == 1 else [f"{name}_{index}" for index in range(len(videos))])
        for index, video_name in enumerate(names[-1]):
            owner = given if len(videos) == 1 else f"{given} (video {index})"
            if video_name in owners:
                raise InvalidInputError(
                    f"{owner} and {owners[video_name]} would both write {out_dir / video_name}.*; rename one, or run predict on each"
                )
            owners[video_name] = owner
            for path in prediction_files(out_dir, video_name, video=mp4_fps(given) is not None).values():
                check_output_file(path, (path.suffix,), "-o")
                outputs.append(path)
    check_outputs_spare_inputs(outputs, [given for _, given, _ in inputs], "-o")
    return names


def _run_predict(args: argparse.Namespace) -> int:
    from videoae.data.video_io import check_video_size, layout_hint
    from videoae.evaluation.predict import model_channels, model_frame_size, predict_videos
    from videoae.reporting.prediction_files import write_prediction

    _check_positive(args, "future", "input-frames", "batch-size")
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"-o {out_dir}: is a file, not a folder; give a folder to write the predictions into")
    check_path_names(out_dir, "-o")
    check_writable_parent(out_dir / "x", "-o")
    model, checkpoint = _load_model(args)
    if model.predictor is None:
        raise InvalidInputError(
            f"{checkpoint} is an autoencoder without a future predictor (predict=False); predict needs a model that has one"
        )
    model_size = model_frame_size(model)
    num_input = args.input_frames or model.config.num_input_frames
    inputs = _read_inputs(args, model_size, model_channels(model))
    mp4_fps = _mp4_rate(inputs)
    for _name, given, videos in inputs:
        if videos.shape[1] < num_input:
            raise InvalidInputError(
                f"{given}: has {videos.shape[1]} frames{layout_hint(given, len(videos), videos.shape[1], args.layout)} but the model reads "
                f"{num_input} input frames; pass a smaller --input-frames"
            )
    if args.future is not None:  # each video's predicted frames are held, and drawn, at once
        check_video_size((num_input + args.future, *model_size), f"--future {args.future:,}")
    names = _output_names(args, inputs, out_dir, mp4_fps)
    with progress(sum(len(videos) for _, _, videos in inputs), "predicting and writing", "video") as on_progress:
        for (_name, given, videos), video_names in zip(inputs, names):
            outputs = predict_videos(model, videos, num_input_frames=num_input, num_future=args.future, batch_size=args.batch_size)
            for index, video_name in enumerate(video_names):
                written = write_prediction(out_dir, video_name, outputs.video(index), video_fps=mp4_fps(given))
                future = outputs.prediction.shape[1]
                mp4 = f", {written['mp4']}" if "mp4" in written else ""
                say(
                    f"wrote {written['gif']}, {written['png']}, {written['npy']}{mp4} "
                    f"({future} predicted frames, float32 {tuple(outputs.prediction.shape[1:])})"
                )
                on_progress(1)
    return 0


# -- features -----------------------------------------------------------------------------------------


def _layer_size(config) -> str:
    from videoae.models.cores import grid_size, is_spatial

    if is_spatial(config):
        height, width = grid_size(config)
        return f"{config.hidden_size} channels on a {height}x{width} grid"
    return f"{config.hidden_size} units"


def _run_features(args: argparse.Namespace) -> int:
    from videoae.evaluation.predict import encoder_features, model_channels, model_frame_size
    from videoae.reporting.prediction_files import save_features

    _check_positive(args, "input-frames", "num-sequences", "num-digits", "batch-size")
    output = check_output_file(args.output, (".npy",), "-o")
    manifest = check_output_file(output.with_suffix(".csv"), (".csv",), "the manifest beside -o")
    check_outputs_spare_inputs([output, manifest], [args.data, args.checkpoint], "-o")
    model, _ = _load_model(args)
    model_size = model_frame_size(model)
    num_input = args.input_frames or model.config.num_input_frames
    data = read_evaluation_data(args, model_size, num_input, model_channels(model))
    if data.num_frames < num_input:
        raise InvalidInputError(
            f"{_data_name(data.source)} has {data.num_frames} frames per sequence{_layout_hint(args, data)} but the encoder reads {num_input}; "
            f"pass --input-frames {data.num_frames}"
        )
    with progress(data.num_sequences, f"encoding {_data_name(data.source)}", "seq") as on_progress:
        features = encoder_features(model, data, num_input_frames=num_input, batch_size=args.batch_size, on_progress=on_progress)
    path = save_features(output, features)
    if data.origin(0) is not None:  # clips of video files: each row leads back to its footage
        from videoae.reporting.feature_manifest import write_feature_manifest

        print(
            f"wrote {write_feature_manifest(manifest, [data.origin(row) for row in range(len(features))])}: row, file, first frame, time (s)"
        )
    config = model.config
    print(
        f"wrote {path}: float32 {features.shape}, {features.shape[0]} sequences x {features.shape[1]} features "
        f"(the encoder's final h and c of {config.num_layers} layer(s) of {_layer_size(config)}, after {num_input} frames)"
    )
    return 0
