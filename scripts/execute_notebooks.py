"""Re-execute lessons in place, top to bottom in a fresh kernel, as `make execute` does, so the
committed outputs stay true and read well in any viewer.

    python scripts/execute_notebooks.py [notebooks/NN_*.ipynb ...]    (default: every lesson)

- Exercise stubs (tagged `student`) are skipped: they are the learner's to fill in.
- No timing metadata is written (record_timing=False, and any left from elsewhere is
  dropped), so re-running a lesson changes only what its cells print.
- Progress bars are saved as widgets with their final state, and each bar's plain-text
  fallback, which static viewers (GitHub, nbviewer, the site) show, is rewritten from that
  state: "training: 100%|...| 15/15 ..." instead of the "0%" it held when first displayed.
"""
import html
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def execute(nb, cwd):
    """Run every cell but the `student` stubs; returns the executed notebook node."""
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                            skip_cells_with_tag="student", record_timing=False, store_widget_state=True)
    return client.execute()


def _bar_text(state, model_id):
    """The text tqdm would print for a finished tqdm.notebook bar (an HBox of prefix HTML,
    FloatProgress, suffix HTML), or None if the model is not such a bar."""
    box = state.get(model_id, {})
    children = [c.replace("IPY_MODEL_", "") for c in box.get("state", {}).get("children", [])]
    parts = [state.get(c, {}) for c in children]
    if [p.get("model_name") for p in parts] != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    prefix, bar, suffix = (p["state"] for p in parts)
    filled = round(10 * bar["value"] / bar["max"]) if bar.get("max") else 0
    text = f"{prefix['value']}|{'█' * filled}{' ' * (10 - filled)}|{suffix['value']}"
    return html.unescape(text).replace("\u2007", " ")


def finish_outputs(nb):
    """Rewrite progress bars' text fallbacks from the stored widget state, and drop timing
    metadata. Returns nb."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            text = view and _bar_text(state, view["model_id"])
            if text:
                out["data"]["text/plain"] = text
    return nb


def main(paths):
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(finish_outputs(execute(nb, path.parent)), path)
        print(f"executed {path}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(str(p) for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
