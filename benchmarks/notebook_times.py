"""Execute each notebook as a learner would (top to bottom, fresh kernel) and print its
wall-clock time as a Markdown table. Works on copies: the committed notebooks are untouched.

    python benchmarks/notebook_times.py notebooks/*.ipynb
"""
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient


def run(path):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    return time.perf_counter() - start


def main(paths):
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {device}; "
          f"torch {torch.__version__}, Python {platform.python_version()}\n")
    print("| notebook | seconds |\n|---|---:|")
    total = 0.0
    for path in paths:
        seconds = run(path)
        total += seconds
        print(f"| {Path(path).name} | {seconds:.1f} |", flush=True)
    print(f"| **total** | **{total:.1f}** |")


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(str(p) for p in Path("notebooks").glob("[0-9][0-9]_*.ipynb")))
