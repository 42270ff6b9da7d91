"""`videoae report` opened in a real browser (headless Chromium): the page loads and shows its pictures.

Skipped where Chromium is not installed (Debian: ``apt-get install chromium``; ``.ci/run`` installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from videoae.reporting.html_report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")]

WINDOW = (1200, 2000)
BROWSER_TIMEOUT_S = 120
# Added to the test's copy of the page only: after the load event, record whether every image
# decoded and whether any script or resource error happened, where --dump-dom can see it.
PROBE_SCRIPT = """<script>
window.__errors = 0;
window.addEventListener("error", () => { window.__errors += 1; }, true);
window.addEventListener("load", () => {
  const images = [...document.images];
  document.body.dataset.imageCount = images.length;
  document.body.dataset.imagesLoaded = images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0);
  document.body.dataset.errors = window.__errors;
});
</script>"""


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=10000",  # run the page's timers and load events before dumping
        *args, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def page(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    return write_report(trained_run, folder / "report.html")


def test_the_page_loads_without_errors_and_every_image_decodes(page: Path, tmp_path: Path) -> None:
    probed = tmp_path / "probed.html"
    html = page.read_text()
    probed.write_text(html.replace("</head>", PROBE_SCRIPT + "</head>", 1))
    result = chromium(probed, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    body = re.search(r"<body[^>]*>", result.stdout)
    assert body, result.stdout[:2000]
    expected = html.count("<img ")
    assert expected == 3  # training curves, per-frame scores, sample GIF
    assert f'data-image-count="{expected}"' in body.group(0)
    assert 'data-images-loaded="true"' in body.group(0)
    assert 'data-errors="0"' in body.group(0)
    assert "videoae report:" in result.stdout and "Evaluation" in result.stdout


def test_the_screenshot_shows_a_page_with_pictures(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = chromium(page, tmp_path / "profile", f"--screenshot={shot}")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == WINDOW
        pixels = np.asarray(image.convert("RGB")).astype(np.int16)
    # Not blank: text and tables darken many pixels, and the plots bring colour (matplotlib's
    # blue and orange curves), which a page of text alone would not have.
    dark = (pixels.max(axis=2) < 128).mean()
    colourful = ((pixels.max(axis=2) - pixels.min(axis=2)) > 60).mean()
    assert dark > 0.005, f"only {dark:.4f} of the screenshot is dark"
    assert colourful > 0.001, f"only {colourful:.4f} of the screenshot is coloured: no plots shown?"
