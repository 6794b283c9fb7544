"""Every notebook in notebooks/ runs top to bottom: a notebook that breaks fails the build.

Executed with nbclient in a temporary copy of the folder (so results/ folders they write land
there), on the embedded defaults (shipped models, aeon data, or ../shared/data with a fallback).
The kernel gets ``TSFM_SHARED_DATA`` pointing at ``../shared/data`` beside the checkout when it
exists, since the temporary copy has no such neighbour. Committed notebooks are saved executed, so a
reader sees the results on GitHub: their outputs must be clean (no errors, no progress bars or other
stderr text) and their first cell states how long a run took.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_notebook_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    if SHARED_DATA.is_dir():
        monkeypatch.setenv("TSFM_SHARED_DATA", str(SHARED_DATA))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    work = tmp_path / "notebooks"
    shutil.copytree(path.parent, work)
    notebook = nbformat.read(work / path.name, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    stderr = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not stderr, f"stderr in the outputs (progress bars, warnings): {stderr[0]['text'][:200]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_committed_notebook_was_run_top_to_bottom_with_clean_outputs(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert [c.get("execution_count") for c in code] == list(range(1, len(code) + 1))
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    stderr = ["".join(o["text"]) for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert not stderr, f"stderr in the saved outputs (progress bars, warnings): {stderr[0][:200]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_first_cell_states_a_measured_run_time(path: Path) -> None:
    first = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert re.search(r"Measured run time: [^\n]*?\d+(\.\d+)? s\b", first), first[-300:]
