"""What the benchmark scripts share. They run as `python benchmarks/NAME.py`, which puts this
folder first on sys.path, so each imports it as `from common import ...`."""
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import torch


def machine():
    """One line naming the machine: architecture, cores, GPU, torch version."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


@contextmanager
def stage(name, seconds):
    """Time a stage; print and record its wall time in seconds[name]."""
    start_time = time.perf_counter()
    yield
    seconds[name] = round(time.perf_counter() - start_time, 1)
    print(f"[{name}: {seconds[name]:.1f} s]", flush=True)


def add_run_options(parser, quick):
    """--quick (a smoke run whose defaults are the dict `quick`) and --json PATH."""
    parser.add_argument("--quick", action="store_true",
                        help="smoke run on the first images of each split; defaults become "
                             + ", ".join(f"{k} {v}" for k, v in quick.items()))
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")


def fill_defaults(args, full, quick):
    """Each option in `full` left unset takes its --quick or full default: one given wins."""
    for name, value in full.items():
        if getattr(args, name, None) is None:
            setattr(args, name, quick[name] if args.quick else value)
    return args
