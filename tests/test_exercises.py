"""Exercises follow COURSE.md: a stub tagged `student` and `nbval-skip`, then a `solution`,
then a self-check; and the committed student copies match their source notebooks."""
import json

import pytest
from helpers import ROOT, load_script

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


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
        discussion = cells[i + 3]
        assert discussion["cell_type"] == "markdown" and "".join(discussion["source"]).startswith("**Discussion.**"), \
            "then a written discussion of the answer, for learners working without the solution"


def test_student_copies_are_in_sync():
    script = load_script("make_student_copies")
    for target, text in script.copies().items():
        assert target.is_file(), f"{target.name} missing: run `make student`"
        # compared as JSON, not text: a newer nbformat may lay the same notebook out differently
        assert json.loads(target.read_text()) == json.loads(text), f"{target.name} is stale: run `make student`"


def test_student_copy_drops_solutions_and_outputs():
    script = load_script("make_student_copies")
    nb = script.student_copy(json.loads(NOTEBOOKS[-1].read_text()))
    assert not any("solution" in tags(c) for c in nb.cells)
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert any("student" in tags(c) for c in nb.cells)


# --- Every self-check rejects wrong answers -------------------------------------------------
# Each lesson is executed once, as a learner would run it; after each exercise's solution, a
# probe runs the self-check again with `answer` replaced by the solution's answer scaled by 0.5
# and by 1.5, and by the stub's `...`, and records whether the check rejected each. The probe
# also hides the names that only the solution cell defines, so a self-check that would break
# in the student copy (which has no solutions) is caught too.
PROBE = '''
import ast as _ast, json as _json
from vae_lessons import checks as _checks
def _scale(a, s):
    if isinstance(a, (tuple, list)):
        return type(a)(_scale(e, s) for e in a)
    if isinstance(a, int) and not isinstance(a, bool):
        return int(round(a * s))
    return a * s
_saved_answer, _hidden = answer, {n: globals().pop(n) for n in HIDE if n in globals()}
_verdicts = {}
for _label, _wrong in (("x0.5", _scale(_saved_answer, 0.5)), ("x1.5", _scale(_saved_answer, 1.5)), ("stub", ...)):
    answer = _wrong
    try:
        exec(CHECK, globals())
        _verdicts[_label] = "accepted"
    except _checks.NotFilledIn:
        _verdicts[_label] = "rejected (fill in)"
    except _checks.CheckFailed:
        _verdicts[_label] = "rejected" if _label != "stub" else "rejected (no hint)"
    except Exception as _err:
        _verdicts[_label] = f"error {type(_err).__name__}: {_err}"
answer = _saved_answer
globals().update(_hidden)
print("EXERCISE_PROBE " + _json.dumps(_verdicts))
'''


def assigned_names(source):
    """Top-level names a cell assigns (or imports, or defines)."""
    import ast
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def probed_notebook(path):
    """The lesson with a probe cell before each self-check; returns (notebook, exercise numbers)."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    cells, seen, exercises = [], set(), []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and i >= 2 and "solution" in tags(nb.cells[i - 1]) \
                and "student" in tags(nb.cells[i - 2]):
            hide = sorted(assigned_names(nb.cells[i - 1].source) - seen - {"answer"})
            cells.append(nbformat.v4.new_code_cell(f"HIDE = {hide!r}\nCHECK = {cell.source!r}\n" + PROBE))
            exercises.append(len(exercises) + 1)
        if cell.cell_type == "code" and "solution" not in tags(cell) and "student" not in tags(cell):
            seen |= assigned_names(cell.source)
        cells.append(cell)
    nb.cells = cells
    return nb, exercises


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_self_check_rejects_wrong_answers(path):
    nb, exercises = probed_notebook(path)
    load_script("execute_notebooks").execute(nb, path.parent)      # as make execute runs a lesson
    verdicts = [json.loads(line.split(" ", 1)[1])
                for cell in nb.cells for out in cell.get("outputs", []) if out.get("output_type") == "stream"
                for line in out["text"].splitlines() if line.startswith("EXERCISE_PROBE ")]
    assert len(verdicts) == len(exercises)
    problems = [f"exercise {n}: {label} {v}" for n, vs in zip(exercises, verdicts) for label, v in vs.items()
                if v not in ("rejected", "rejected (fill in)") or (label == "stub" and v != "rejected (fill in)")]
    assert not problems, "; ".join(problems)
