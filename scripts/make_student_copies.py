"""Write the student copies of the lessons: each notebook without its solution cells and
with every output cleared, for a learner to fill in the stubs.

    python scripts/make_student_copies.py [--check]

Source: notebooks/NN_*.ipynb. Exercise cells there come in fours: a prompt, a stub tagged
`student` and `nbval-skip`, a solution tagged `solution`, and a self-check. The copies go to
student/NN_*.ipynb. --check compares instead of writing and exits 1 if any copy is stale.
"""
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def student_copy(nb):
    """The student version of a notebook node: solution cells dropped, outputs cleared."""
    nb = nbformat.from_dict(nb)
    cells = []
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)  # timestamps of the source's last run
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    return nb


def copies():
    """{target path: notebook text} for every lesson."""
    out = {}
    for source in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = student_copy(nbformat.read(source, as_version=4))
        out[ROOT / "student" / source.name] = nbformat.writes(nb) + "\n"
    return out


def main(check):
    stale = []
    for path, text in copies().items():
        if check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        sys.exit(f"stale student copies: {', '.join(stale)}; run `make student`")


if __name__ == "__main__":
    main("--check" in sys.argv)
