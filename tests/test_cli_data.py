"""`videoae data generate` and `videoae data preview`."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageSequence

from videoae.cli import main
from videoae.data.moving_mnist import generate
from videoae.reporting import frame_table, sequence_grid


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_generate_writes_the_standard_frames_first_layout(tmp_path, capsys):
    out = tmp_path / "seq.npy"
    code, stdout, _ = run(capsys, "data", "generate", "--num", "5", "--seed", "3", "-o", str(out))
    assert code == 0 and str(out) in stdout and "(T, N, H, W)" in stdout
    written = np.load(out)
    assert written.dtype == np.uint8 and written.shape == (20, 5, 64, 64)
    np.testing.assert_array_equal(written.transpose(1, 0, 2, 3), generate(5, seed=3))


def test_generate_passes_every_option_to_the_generator(tmp_path, capsys):
    out = tmp_path / "seq.npy"
    argv = ["--num", "3", "--seed", "8", "--start", "40", "--num-digits", "3", "--frames", "7", "--image-size", "48"]
    argv += ["--speed", "0.05", "0.2", "--digits", "test"]
    assert run(capsys, "data", "generate", *argv, "-o", str(out))[0] == 0
    expected = generate(3, seed=8, start=40, num_digits=3, num_frames=7, image_size=48, speed=(0.05, 0.2), digits="test")
    np.testing.assert_array_equal(np.load(out).transpose(1, 0, 2, 3), expected)


def test_generate_reads_a_digit_file(tmp_path, capsys):
    digits = np.zeros((2, 10, 10), dtype=np.uint8)
    digits[:, 3:7, 3:7] = [[[90]], [[180]]]
    np.save(tmp_path / "digits.npy", digits)
    out = tmp_path / "seq.npy"
    argv = ["--num", "4", "--image-size", "24", "--digits", str(tmp_path / "digits.npy"), "-o", str(out)]
    assert run(capsys, "data", "generate", *argv)[0] == 0
    np.testing.assert_array_equal(np.load(out).transpose(1, 0, 2, 3), generate(4, image_size=24, digits=digits))


def test_preview_gif_plays_the_grid(tmp_path, capsys):
    out = tmp_path / "preview.gif"
    code, stdout, _ = run(capsys, "data", "preview", "--frames", "6", "--columns", "4", "--frame-ms", "50", "-o", str(out))
    assert code == 0 and str(out) in stdout
    grid = sequence_grid(generate(8, num_frames=6), columns=4)  # default --num 8
    with Image.open(out) as gif:
        frames = [np.array(frame.convert("L")) for frame in ImageSequence.Iterator(gif)]
        assert gif.info["duration"] == 50
    assert len(frames) == 6
    np.testing.assert_array_equal(np.stack(frames), grid)


def test_preview_png_is_a_table_of_frames(tmp_path, capsys):
    out = tmp_path / "strip.png"
    assert run(capsys, "data", "preview", "--num", "3", "--frames", "5", "-o", str(out))[0] == 0
    with Image.open(out) as png:
        np.testing.assert_array_equal(np.array(png), frame_table(generate(3, num_frames=5)))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--num", "-2"], "--num must be at least 1"),
        (["generate", "--num", "2", "--image-size", "20"], "do not fit on a 20x20 canvas"),
        (["generate", "--num", "2", "--speed", "0.3", "0.1"], "low <= high"),
        (["generate", "--num", "2", "--digits", "nowhere.idx"], "neither train, test, all, mnist"),
        (["preview", "--frame-ms", "0"], "frame_ms"),
    ],
)
def test_bad_options_fail_with_one_line_and_leave_the_old_file(tmp_path, capsys, argv, message):
    out = tmp_path / ("old.npy" if argv[0] == "generate" else "old.gif")
    out.write_bytes(b"precious")
    code, stdout, stderr = run(capsys, "data", *argv, "-o", str(out))
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and message in stderr and "Traceback" not in stderr
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left behind


@pytest.mark.parametrize("name", ["seq.txt", "folder"])
def test_unusable_output_names_fail_before_generating(tmp_path, capsys, name):
    (tmp_path / "folder").mkdir()
    code, _, stderr = run(capsys, "data", "generate", "--num", "1", "-o", str(tmp_path / name))
    assert code == 2 and stderr.count("\n") == 1


def test_unwritable_output_fails_with_one_line(tmp_path, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    code, _, stderr = run(capsys, "data", "generate", "--num", "1", "-o", str(blocker / "seq.npy"))
    assert code == 2 and stderr.count("\n") == 1 and "is a file, not a folder" in stderr
    assert blocker.read_text() == "x"


def test_read_only_folder_fails_before_generating(tmp_path, capsys, monkeypatch):
    import videoae.cli.paths

    # Tests may run as root, for whom every folder is writable; pretend this one is not.
    monkeypatch.setattr(videoae.cli.paths.os, "access", lambda path, mode: False)
    monkeypatch.setattr("videoae.data.moving_mnist.generate", lambda *a, **k: pytest.fail("generated anyway"))
    code, _, stderr = run(capsys, "data", "generate", "--num", "1", "-o", str(tmp_path / "seq.npy"))
    assert code == 2 and "cannot write into" in stderr


# -- one GIF per sequence, and progress ---------------------------------------------------------------


def test_generate_as_gif_writes_one_64x64_gif_per_sequence(tmp_path, capsys, monkeypatch):
    import videoae.cli.data

    monkeypatch.setattr(videoae.cli.data, "GENERATE_BLOCK", 2)  # three blocks for three sequences
    out = tmp_path / "clips"
    code, stdout, _ = run(capsys, "data", "generate", "--format", "gif", "--num", "3", "--start", "7", "-o", str(out))
    assert code == 0 and str(out) in stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == ["sequence_000007.gif", "sequence_000008.gif", "sequence_000009.gif"]
    expected = generate(3, start=7)
    for name, video in zip(names, expected):
        with Image.open(out / name) as gif:
            frames = np.stack([np.array(frame.convert("L")) for frame in ImageSequence.Iterator(gif)])
        np.testing.assert_array_equal(frames, video)  # 20 frames of 64x64, every byte


def test_generate_in_blocks_writes_the_same_bytes(tmp_path, capsys, monkeypatch):
    import videoae.cli.data

    monkeypatch.setattr(videoae.cli.data, "GENERATE_BLOCK", 3)
    out = tmp_path / "seq.npy"
    assert run(capsys, "data", "generate", "--num", "7", "--start", "2", "-o", str(out))[0] == 0
    np.testing.assert_array_equal(np.load(out).transpose(1, 0, 2, 3), generate(7, start=2))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-o", "clips"], "add --format gif"),
        (["-o", "clip.gif"], "add --format gif"),
        (["--format", "gif", "-o", "clip.gif"], "give a folder"),
    ],
)
def test_output_names_that_do_not_match_the_format_are_refused(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run(capsys, "data", "generate", "--num", "1", *argv)
    assert code == 2 and stderr.count("\n") == 1 and message in stderr
    assert list(tmp_path.iterdir()) == []


def test_generate_shows_its_phases_on_a_terminal_only(tmp_path, capsys, monkeypatch):
    import videoae.progress

    code, _, stderr = run(capsys, "data", "generate", "--num", "2", "-o", str(tmp_path / "quiet.npy"))
    assert code == 0 and stderr == ""  # a log or a pipe gets no bar, and no line for a second's work
    monkeypatch.setattr(videoae.progress, "wants_bar", lambda stream: True)
    code, _, stderr = run(capsys, "data", "generate", "--num", "2", "-o", str(tmp_path / "loud.npy"))
    assert code == 0 and "generating" in stderr and "writing" in stderr


# -- bounded memory and sizes checked before generating ------------------------------------------------


def test_generate_streams_to_disk_so_memory_is_bounded_by_a_block(tmp_path, capsys, monkeypatch):
    import tracemalloc

    import videoae.cli.data

    monkeypatch.setattr(videoae.cli.data, "GENERATE_BLOCK_BYTES", 2**16, raising=False)  # 3 sequences of 20 frames of 32x32

    def peak_bytes(num: int) -> int:
        tracemalloc.start()
        try:
            code, _, _ = run(capsys, "data", "generate", "--num", str(num), "--image-size", "32", "-o", str(tmp_path / f"{num}.npy"))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert code == 0

    peak_bytes(3)  # imports and the digits, loaded once
    few, many = peak_bytes(3), peak_bytes(300)
    whole = 300 * 20 * 32 * 32  # 6 MB: once held whole before anything was written
    assert many - few < whole / 4, f"{many - few:,} bytes more for 300 sequences than for 3"
    np.testing.assert_array_equal(np.load(tmp_path / "300.npy").transpose(1, 0, 2, 3), generate(300, image_size=32))


def test_generate_refuses_a_set_larger_than_the_free_space_before_generating(tmp_path, capsys, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 10**6, 10**6))
    monkeypatch.setattr("videoae.data.moving_mnist.generate", lambda *a, **k: pytest.fail("generated anyway"))
    code, _, stderr = run(capsys, "data", "generate", "--num", "200000", "-o", str(tmp_path / "seq.npy"))
    assert code == 2 and "GiB to write but" in stderr and "use a smaller --num" in stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--num", "2", "--image-size", "1000000"],
        ["generate", "--num", "2", "--frames", "10000000000"],
        ["generate", "--num", "2", "--start", str(2**64 - 1)],
        ["preview", "--num", "1000000"],
    ],
    ids=["image-size", "frames", "start", "preview-num"],
)
def test_sizes_past_memory_are_refused_with_one_line_before_generating(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.setattr("videoae.data.moving_mnist.generate", lambda *a, **k: pytest.fail("generated anyway"))
    output = tmp_path / ("seq.npy" if argv[0] == "generate" else "grid.gif")
    code, _, stderr = run(capsys, "data", *argv, "-o", str(output))
    assert code == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_generate_never_writes_over_its_digit_file(tmp_path, capsys):
    digits = tmp_path / "digits.npy"
    np.save(digits, np.full((2, 10, 10), 200, dtype=np.uint8))
    before = digits.read_bytes()
    code, _, stderr = run(capsys, "data", "generate", "--num", "2", "--digits", str(digits), "-o", str(tmp_path / "." / "digits.npy"))
    assert code == 2 and "would replace the input" in stderr
    assert digits.read_bytes() == before


def test_a_long_output_name_is_written_not_refused_after_generating(tmp_path, capsys):
    out = tmp_path / ("s" * 251 + ".npy")  # 255 bytes: the longest legal name
    assert run(capsys, "data", "generate", "--num", "2", "-o", str(out))[0] == 0
    assert np.load(out).shape == (20, 2, 64, 64)
    code, _, stderr = run(capsys, "data", "generate", "--num", "2", "-o", str(tmp_path / ("s" * 252 + ".npy")))
    assert code == 2 and "past the 255 bytes a file name may have" in stderr
