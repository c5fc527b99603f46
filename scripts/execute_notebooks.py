"""Re-execute lessons in place, top to bottom in a fresh kernel, as `make execute` does, so the
committed outputs stay true and read well in any viewer.

    python scripts/execute_notebooks.py [notebooks/NN_*.ipynb ...]    (default: every lesson)

- Exercise stubs (tagged `student`) are skipped: they are the learner's to fill in.
- No timing metadata is written (record_timing=False, and any left from elsewhere is
  dropped), so re-running a lesson changes only what its cells print.
- Progress bars are saved as widgets with their final state, and each bar's plain-text
  fallback, which static viewers (GitHub, nbviewer, the site) show, is rewritten from that
  state: "training: 100%|...| 15/15 ..." instead of the "0%" it held when first displayed.
- Any other widget (lesson 07's latent explorer) needs a live kernel to do anything: it is
  saved as a one-line note saying so (INTERACTIVE_NOTE), not as a widget frozen at the state the
  execution left it in, and the stored widget state keeps only the models that saved outputs show.
"""
import html
import json
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
INTERACTIVE_NOTE = "(an interactive widget: run this cell in Jupyter to use it)"


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
    """Rewrite progress bars' text fallbacks from the stored widget state, save other widgets
    as INTERACTIVE_NOTE, and drop timing metadata. Returns nb."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if not view:
                continue
            text = _bar_text(state, view["model_id"])
            if text:
                out["data"]["text/plain"] = text
            elif view["model_id"] in state:  # a live widget, not a bar (a bar's state might be gone)
                out["data"] = {"text/plain": INTERACTIVE_NOTE}
    _drop_unshown(state, nb)
    return nb


def _drop_unshown(state, nb):
    """Remove from the stored widget state every model that no saved output shows, directly or
    as a part (a child, layout or style) of one: the interactive widgets' models, kilobytes of
    sliders, layouts and PNGs that nothing in the saved notebook displays."""
    todo = [out["data"][WIDGET_VIEW]["model_id"] for cell in nb.cells for out in cell.get("outputs", [])
            if WIDGET_VIEW in out.get("data", {})]
    shown = set()
    while todo:
        model_id = todo.pop()
        if model_id in state and model_id not in shown:
            shown.add(model_id)
            todo += re.findall(r"IPY_MODEL_(\w+)", json.dumps(state[model_id].get("state", {})))
    for model_id in set(state) - shown:
        del state[model_id]


def main(paths):
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(finish_outputs(execute(nb, path.parent)), path)
        print(f"executed {path}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(str(p) for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
