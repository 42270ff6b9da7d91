"""``videoae data cache``: decode video files once into the uint8 shards that training memory-maps."""

from __future__ import annotations

import argparse

from videoae.cli.paths import check_writable_parent
from videoae.cli.progress import progress

DEFAULT_SIZE = 64  # the side of every preset's frames


def add_command(data_commands: argparse._SubParsersAction) -> None:
    """Register ``videoae data cache``."""
    cache = data_commands.add_parser(
        "cache",
        help="decode video files once into a clip cache that training memory-maps (--set data=CACHE)",
        description="Decode every video of PATH (a folder searched recursively, a glob, a .txt list or a video file) "
        "into uint8 shards at a model's frame shape: frames resized to cover it and centre-cropped, grayscale or RGB. "
        "Training on the cache sees exactly the clips it would see on the videos, without decoding them again.",
    )
    cache.add_argument("data", metavar="PATH", help="the videos: a folder, a glob such as 'clips/**/*.mp4', a .txt list or a file")
    cache.add_argument("-o", "--output", required=True, metavar="CACHE", help="the cache folder to create (must not exist yet)")
    cache.add_argument(
        "--size", type=int, nargs="+", default=[DEFAULT_SIZE], metavar="S", help="frame height [and width] (default %(default)s)"
    )
    cache.add_argument("--channels", type=int, choices=(1, 3), default=1, help="1: grayscale (default), 3: RGB")
    cache.add_argument(
        "--fps", type=float, default=0.0, metavar="R", help="resample every video to R frames per second (default: as recorded)"
    )
    cache.set_defaults(run=_run_data_cache)


def _run_data_cache(args: argparse.Namespace) -> int:
    from pathlib import Path

    from videoae.data.clip_cache import write_clip_cache
    from videoae.data.video_clips import ContainerFrames, find_videos
    from videoae.errors import InvalidInputError

    if len(args.size) > 2 or min(args.size) < 1:
        raise InvalidInputError(f"--size {' '.join(map(str, args.size))}: give one side (square frames) or a height and a width, each >= 1")
    if not args.fps >= 0:
        raise InvalidInputError(f"--fps {args.fps}: give a rate >= 0 (0: as recorded)")
    height, width = args.size if len(args.size) == 2 else args.size * 2
    output = Path(args.output)
    check_writable_parent(output / "x", "-o")
    shape = (args.channels, height, width)
    videos = find_videos(args.data)
    total = sum(ContainerFrames(videos, frame_shape=shape, fps=args.fps).num_frames(v) for v in range(len(videos)))
    with progress(total, f"decoding {len(videos)} videos", "frame") as on_progress:
        index = write_clip_cache(args.data, output, frame_shape=shape, fps=args.fps, on_progress=on_progress)
    shards = len({v["shard"] for v in index["videos"]})
    print(
        f"wrote {output}: {total:,} frames of {len(videos)} videos as uint8 {list(shape)} in {shards} shard(s); "
        f"train on it with --set data={output}" + (f" --set fps={args.fps:g}" if args.fps else "")
    )
    return 0
