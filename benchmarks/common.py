"""What the benchmark scripts share. They run as `python benchmarks/NAME.py`, which puts this
folder first on sys.path, so each imports it as `from common import ...`."""
import os
import platform
import time
from contextlib import contextmanager

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
