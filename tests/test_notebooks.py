"""The quick-start notebooks: committed with their outputs, the same cells in English and Korean,
and (slow) executed on a fresh kernel with a small budget."""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import re
import time
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("quickstart.ipynb", "quickstart.ko.ipynb")
# The committed files carry their animations; this keeps a clone light.
MAX_NOTEBOOK_BYTES = 2_000_000
# CI's budget: a few seconds of training and 100 test sequences, so that every cell runs.
CI_ENVIRONMENT = {"VIDEOAE_NOTEBOOK_MINUTES": "0.05", "VIDEOAE_NOTEBOOK_SEQUENCES": "100"}
WIDGET = "application/vnd.jupyter.widget-view+json"
HANGUL = re.compile("[\uac00-\ud7a3]")
GIF_URI = re.compile(r'src="data:image/gif;base64,([A-Za-z0-9+/=]+)"')


def read(name: str) -> dict:
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))


def text(value: str | list[str]) -> str:
    """A notebook's text field: one string, or (in the file) a list of lines."""
    return "".join(value) if isinstance(value, list) else value


def source(cell: dict) -> str:
    return text(cell["source"])


class _WithoutText(ast.NodeTransformer):
    """A cell's code with every string blanked: what is left must be the same in both languages."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant("") if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return ast.Constant("")


def code_shape(cell: dict) -> str:
    return ast.dump(_WithoutText().visit(ast.parse(source(cell))))


def html_outputs(cell: dict) -> list[str]:
    return [text(out["data"]["text/html"]) for out in cell.get("outputs", []) if "text/html" in out.get("data", {})]


def gif_frame_counts(cell: dict) -> list[int]:
    counts = []
    for html in html_outputs(cell):
        for encoded in GIF_URI.findall(html):
            with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
                counts.append(image.n_frames)
    return counts


def test_the_korean_notebook_has_the_same_cells_with_korean_prose():
    english, korean = read(NAMES[0])["cells"], read(NAMES[1])["cells"]
    assert [c["cell_type"] for c in english] == [c["cell_type"] for c in korean]
    assert [c["metadata"].get("tags") for c in english] == [c["metadata"].get("tags") for c in korean]
    for en, ko in zip(english, korean):
        if en["cell_type"] == "code":
            assert code_shape(en) == code_shape(ko), source(ko)
        else:
            assert HANGUL.search(source(ko)), source(ko)[:80]
    # comments and titles are Korean too, where the English cell has any
    for en, ko in zip(english, korean):
        if en["cell_type"] == "code" and ("#" in source(en) or "title=" in source(en)):
            assert HANGUL.search(source(ko)), source(ko)[:80]


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_notebook_holds_its_outputs_and_its_animations(name):
    path = NOTEBOOKS / name
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES
    notebook = read(name)
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert all(cell["execution_count"] is not None for cell in code), "every cell was run"
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1)), "in order, on one kernel"
    assert not [out for cell in code for out in cell["outputs"] if out["output_type"] == "error"]
    shown = {i: gif_frame_counts(cell) for i, cell in enumerate(code) if gif_frame_counts(cell)}
    # the shipped model's and the trained model's input | truth | reconstruction | prediction: 10 + 10 frames
    comparisons = [i for i, counts in shown.items() if "predict_videos(" in source(code[i]) and counts == [20]]
    assert len(comparisons) >= 2, shown
    trained = [cell for cell in code if "videoae.train(" in source(cell)][0]
    results = [text(out["data"]["text/plain"]) for out in trained["outputs"] if out["output_type"] == "execute_result"]
    assert results and results[0].startswith("TrainedRun(runs/quickstart: "), results
    # the live progress bar: tqdm.auto's widget (or its text bar on stderr, without ipywidgets)
    assert any(WIDGET in out.get("data", {}) or out.get("name") == "stderr" for out in trained["outputs"])
    # the committed run is the documented one: a couple of minutes, scored on 1,000 sequences
    parameters = next(cell for cell in code if "parameters" in cell["metadata"].get("tags", []))
    assert '"VIDEOAE_NOTEBOOK_MINUTES", "2"' in source(parameters) and '"VIDEOAE_NOTEBOOK_SEQUENCES", "1000"' in source(parameters)
    scores = next(cell for cell in code if "evaluate_data(" in source(cell))
    assert "1000" in "".join(text(out.get("text", "")) for out in scores["outputs"])


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_notebook_runs_on_a_fresh_kernel_without_an_error(name, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # the kernel is a new process: it finds this checkout's videoae and the small budget in its environment
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    for key, value in CI_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    started = time.monotonic()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    elapsed = time.monotonic() - started
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    assert (tmp_path / "runs" / "quickstart" / "checkpoints" / "last.safetensors").is_file()
    assert (tmp_path / "runs" / "quickstart" / "features.npy").is_file()
    assert sum(len(gif_frame_counts(cell)) for cell in code) >= 5
    assert elapsed < 120, f"{name} took {elapsed:.0f} s with CI's budget"
