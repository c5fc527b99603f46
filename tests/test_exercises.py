"""Exercises follow COURSE.md: a stub tagged `student` and `nbval-skip`, then a `solution`,
then a self-check; and the committed student copies match their source notebooks."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load_script():
    spec = importlib.util.spec_from_file_location("make_student_copies", ROOT / "scripts" / "make_student_copies.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tags(cell):
    return cell["metadata"].get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_exercise_has_stub_solution_and_self_check(path):
    cells = json.loads(path.read_text())["cells"]
    stubs = [i for i, c in enumerate(cells) if "student" in tags(c)]
    assert len(stubs) >= 2, "at least two exercises per lesson"
    for i in stubs:
        assert "nbval-skip" in tags(cells[i]) and cells[i]["execution_count"] is None
        assert "solution" in tags(cells[i + 1]), "a stub is followed by its solution"
        check = cells[i + 2]
        assert check["cell_type"] == "code" and "checks." in "".join(check["source"]), "then a self-check"
        assert not tags(check)


def test_student_copies_are_in_sync():
    script = load_script()
    for target, text in script.copies().items():
        assert target.is_file(), f"{target.name} missing: run `make student`"
        # compared as JSON, not text: a newer nbformat may lay the same notebook out differently
        assert json.loads(target.read_text()) == json.loads(text), f"{target.name} is stale: run `make student`"


def test_student_copy_drops_solutions_and_outputs():
    script = load_script()
    nb = script.student_copy(json.loads(NOTEBOOKS[-1].read_text()))
    assert not any("solution" in tags(c) for c in nb.cells)
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert any("student" in tags(c) for c in nb.cells)
