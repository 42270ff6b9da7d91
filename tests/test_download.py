"""The downloader: mirrors in turn, md5 checks, idempotence, nothing left behind on failure."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from local_http import closed_port_url, serve
from videoae.data import download
from videoae.data.download import default_data_dir, download_file, file_md5
from videoae.errors import ChecksumError, DownloadError

PAYLOAD = bytes(range(256)) * 50
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def server():
    with serve() as state:
        yield state


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_default_data_dir_follows_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIDEOAE_DATA_DIR", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data"
    monkeypatch.delenv("VIDEOAE_DATA_DIR")
    assert default_data_dir() == Path.home() / ".cache" / "videoae"


def test_file_md5_matches_hashlib_across_chunks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(download, "CHUNK_SIZE", 7)  # many chunks, the last one partial
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    assert file_md5(path) == PAYLOAD_MD5


def test_good_download_lands_with_right_content(server, tmp_path: Path) -> None:
    server.routes["/f.bin"] = (200, PAYLOAD)
    dest = tmp_path / "sub" / "f.bin"
    assert download_file([server.url("/f.bin")], dest, PAYLOAD_MD5) == dest
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(dest.parent) == ["f.bin"]


def test_second_call_makes_no_request(server, tmp_path: Path) -> None:
    server.routes["/f.bin"] = (200, PAYLOAD)
    dest = tmp_path / "f.bin"
    download_file([server.url("/f.bin")], dest, PAYLOAD_MD5)
    download_file([server.url("/f.bin")], dest, PAYLOAD_MD5.upper())
    assert server.requests == ["/f.bin"]


def test_bad_checksum_leaves_no_file(server, tmp_path: Path) -> None:
    server.routes["/f.bin"] = (200, PAYLOAD[:-1] + b"x")
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="md5"):
        download_file([server.url("/f.bin")], dest, PAYLOAD_MD5)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("status", [404, 500])
def test_failed_first_mirror_falls_back_to_second(server, tmp_path: Path, status: int) -> None:
    server.routes["/bad/f.bin"] = (status, b"error page")
    server.routes["/good/f.bin"] = (200, PAYLOAD)
    dest = tmp_path / "f.bin"
    download_file([server.url("/bad/f.bin"), server.url("/good/f.bin")], dest, PAYLOAD_MD5)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == ["/bad/f.bin", "/good/f.bin"]
    assert _leftovers(tmp_path) == ["f.bin"]


def test_all_mirrors_failing_explains_each_and_how_to_go_offline(server, tmp_path: Path) -> None:
    server.routes["/f.bin"] = (403, b"forbidden")
    dead = closed_port_url("/f.bin")
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError) as info:
        download_file([server.url("/f.bin"), dead], dest, PAYLOAD_MD5)
    message = str(info.value)
    assert "\n" not in message
    assert "HTTP 403" in message and dead in message
    assert f"download {server.url('/f.bin')} and place it at {dest}" in message
    assert _leftovers(tmp_path) == []


def test_existing_file_with_wrong_md5_is_kept_and_reported(server, tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"something else")
    server.routes["/f.bin"] = (200, PAYLOAD)
    with pytest.raises(ChecksumError, match="delete it"):
        download_file([server.url("/f.bin")], dest, PAYLOAD_MD5)
    assert dest.read_bytes() == b"something else"
    assert server.requests == []


class _InterruptedResponse(io.BytesIO):
    """A response whose body is cut by Ctrl-C after the first chunk."""

    headers: dict[str, str] = {}

    def read(self, size: int = -1) -> bytes:
        if self.tell() > 0:
            raise KeyboardInterrupt
        return super().read(size)


def test_interrupted_download_leaves_no_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(download, "CHUNK_SIZE", 16)
    monkeypatch.setattr(download, "_open_url", lambda url, timeout: _InterruptedResponse(PAYLOAD))
    dest = tmp_path / "f.bin"
    with pytest.raises(KeyboardInterrupt):
        download_file(["http://mirror.invalid/f.bin"], dest, PAYLOAD_MD5)
    assert _leftovers(tmp_path) == []


def test_progress_bar_only_when_asked(server, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    import videoae.progress

    server.routes["/f.bin"] = (200, PAYLOAD)
    download_file([server.url("/f.bin")], tmp_path / "quiet.bin", PAYLOAD_MD5)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(videoae.progress, "PLAIN_INTERVAL_SECONDS", 0.0)  # a line at every chunk
    download_file([server.url("/f.bin")], tmp_path / "logged.bin", PAYLOAD_MD5, progress=True)
    err = capsys.readouterr().err
    assert "downloading logged.bin: " in err and "\r" not in err  # a log gets plain lines
    monkeypatch.setattr(videoae.progress, "wants_bar", lambda stream: True)
    download_file([server.url("/f.bin")], tmp_path / "loud.bin", PAYLOAD_MD5, progress=True)
    assert "loud.bin" in capsys.readouterr().err


def test_empty_mirror_list_is_a_download_error(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="place the file at"):
        download_file([], tmp_path / "f.bin", PAYLOAD_MD5)


# --- `videoae data download` ----------------------------------------------------------------------


def test_cli_download_mnist_prints_paths(
    server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoae import cli
    from videoae.data import digits

    files = {name: name.encode() * 10 for name in digits.MNIST_FILES}
    monkeypatch.setattr(digits, "MNIST_FILES", {n: hashlib.md5(b).hexdigest() for n, b in files.items()})
    monkeypatch.setattr(digits, "MNIST_MIRRORS", [server.url("/gone/"), server.url("/mirror/")])
    server.routes.update({f"/mirror/{n}": (200, b) for n, b in files.items()})
    assert cli.main(["data", "download", "mnist", "--root", str(tmp_path)]) == 0
    raw_dir = tmp_path / "MNIST" / "raw"
    assert capsys.readouterr().out.split() == [str(raw_dir / name) for name in files]
    assert all((raw_dir / n).read_bytes() == b for n, b in files.items())


def test_cli_download_moving_mnist_offline_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoae import cli
    from videoae.data import standard_test_set

    dead = closed_port_url("/mnist_test_seq.npy")
    monkeypatch.setattr(standard_test_set, "STANDARD_TEST_SET_URLS", [dead])
    monkeypatch.setenv("VIDEOAE_DATA_DIR", str(tmp_path))
    assert cli.main(["data", "download", "moving-mnist"]) == 2
    captured = capsys.readouterr()
    error_lines = [line for line in captured.err.splitlines() if line.startswith("videoae: error:")]
    assert len(error_lines) == 1 and "Traceback" not in captured.err
    assert dead in error_lines[0]
    assert f"place it at {tmp_path / 'MovingMNIST' / 'mnist_test_seq.npy'}" in error_lines[0]
    assert captured.out == ""
    assert not (tmp_path / "MovingMNIST" / "mnist_test_seq.npy").exists()


def test_downloaded_files_get_the_umask_mode_like_any_other_file(server, tmp_path: Path) -> None:
    server.routes["/f.bin"] = (200, PAYLOAD)
    previous = os.umask(0o022)
    try:
        dest = download_file([server.url("/f.bin")], tmp_path / "shared" / "f.bin", PAYLOAD_MD5)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644  # readable by the other users of a shared data folder
