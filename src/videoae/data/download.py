"""Fetching published data files: mirrors tried in turn, md5-verified, written atomically.

A download either leaves the complete, verified file at its destination or leaves nothing there:
bytes stream into a temporary file in the destination's folder, which is renamed into place only
after its md5 matches, and removed on any failure (including Ctrl-C).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from videoae import __version__
from videoae.errors import ChecksumError, DownloadError

logger = logging.getLogger(__name__)

DATA_DIR_ENV_VAR = "VIDEOAE_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.cache/videoae")
DEFAULT_TIMEOUT_S = 30.0
CHUNK_SIZE = 1 << 20
# Some mirrors answer 403 to urllib's default agent string.
USER_AGENT = f"videoae/{__version__} (+https://pypi.org/project/videoae)"

# Everything a mirror can go wrong with: HTTP status, DNS/connection/timeout (OSError, URLError),
# a connection cut mid-body (IncompleteRead) and a malformed URL (ValueError).
_MIRROR_FAILURES = (OSError, http.client.HTTPException, ValueError)


def default_data_dir() -> Path:
    """Where videoae keeps downloaded data: ``$VIDEOAE_DATA_DIR`` if set, else ``~/.cache/videoae``.

    Returns:
        The folder (not created here).
    """
    configured = os.environ.get(DATA_DIR_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return DEFAULT_DATA_DIR.expanduser()


def file_md5(path: str | Path) -> str:
    """The md5 hex digest of a file, read in chunks so large files need little memory.

    Args:
        path: The file to hash.

    Returns:
        32 lowercase hex digits.
    """
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open_url(url: str, timeout: float):  # noqa: ANN202 - urllib's response type is private
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - fixed http(s) mirrors


def _content_length(response) -> int | None:  # noqa: ANN001
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _stream(response, out: BinaryIO, *, progress: bool, desc: str) -> str:  # noqa: ANN001
    """Copy a response body to ``out``; return its md5."""
    digest = hashlib.md5(usedforsecurity=False)
    total = _content_length(response)
    bar = None
    if progress and total is not None:
        from videoae.progress import progress_bar

        bar = progress_bar(total, f"downloading {desc}", "B", unit_scale=True)
    try:
        for chunk in iter(lambda: response.read(CHUNK_SIZE), b""):
            out.write(chunk)
            digest.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return digest.hexdigest()


def _try_mirror(url: str, dest: Path, md5: str, *, timeout: float, progress: bool) -> None:
    """Fetch ``url`` into ``dest`` atomically or raise; never leaves a partial file."""
    # open(..., "xb") rather than tempfile: the umask sets the mode as for any other file (tempfile
    # makes 0600, unreadable to the other users of a shared VIDEOAE_DATA_DIR)
    tmp_path = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with open(tmp_path, "xb") as handle, _open_url(url, timeout) as response:
            got = _stream(response, handle, progress=progress, desc=dest.name)
        if got != md5:
            raise ChecksumError(f"md5 {got} instead of {md5}")
        os.replace(tmp_path, dest)
    except BaseException:
        # BaseException on purpose: Ctrl-C must not leave a half-written file behind either.
        tmp_path.unlink(missing_ok=True)
        raise


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return " ".join(str(err).split()) or type(err).__name__


def download_file(
    urls: Sequence[str],
    dest: str | Path,
    md5: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: bool = False,
) -> Path:
    """Download a file from the first mirror that delivers it with the expected md5.

    Idempotent: a file already at ``dest`` with the right md5 is kept and nothing is fetched.

    Args:
        urls: Mirrors, tried in order.
        dest: Where the file goes; its folder is created if needed.
        md5: Expected md5 hex digest of the file.
        timeout: Seconds to wait for each connection or read before giving up on a mirror.
        progress: Show progress on stderr (a bar on a terminal, plain lines in a log) when the server announces the size.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        ChecksumError: ``dest`` already exists with another md5 (it is left untouched).
        DownloadError: No mirror delivered the file; the message lists each mirror's failure.
    """
    dest = Path(dest).expanduser()
    md5 = md5.lower()
    if not urls:
        raise DownloadError(f"no mirror given for {dest.name}; place the file at {dest} yourself")
    if dest.exists():
        found = file_md5(dest)
        if found == md5:
            logger.debug("%s already present with the expected md5", dest)
            return dest
        raise ChecksumError(f"{dest} exists but has md5 {found}, expected {md5}; delete it and download again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        logger.info("downloading %s to %s", url, dest)
        try:
            _try_mirror(url, dest, md5, timeout=timeout, progress=progress)
        except (*_MIRROR_FAILURES, ChecksumError) as err:
            logger.warning("%s failed: %s", url, _describe(err))
            failures.append(f"{url}: {_describe(err)}")
            continue
        return dest
    raise DownloadError(
        f"could not download {dest.name} ({'; '.join(failures)}); to proceed offline, download {urls[0]} and place it at {dest}"
    )
