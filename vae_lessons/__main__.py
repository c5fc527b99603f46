"""python -m vae_lessons: the command-line trainer (vae_lessons.cli).

Importing the CLI imports torch, which takes seconds: a Ctrl-C then ends in the same kind of
line as anywhere else (the package's __init__ imports nothing heavy, so this code runs first).
"""
import sys

try:
    from .allocator import keep_freed_memory
    from .cli import main
except KeyboardInterrupt:
    print("vae_lessons: interrupted: while starting; nothing was done", file=sys.stderr)
    sys.exit(130)

if sys.argv[1:2] in (["train"], ["evaluate"]):
    # thousands of steps or chunks of importance samples, each allocating and freeing the same
    # large tensors: reuse freed memory instead of faulting in fresh pages each time (allocator.py).
    # Here, not in cli.main, which tests call in-process.
    keep_freed_memory()

sys.exit(main())
