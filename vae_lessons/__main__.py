"""python -m vae_lessons: the command-line trainer (vae_lessons.cli).

Importing the CLI imports torch, which takes seconds: a Ctrl-C then ends in the same kind of
line as anywhere else (the package's __init__ imports nothing heavy, so this code runs first).
"""
import sys

try:
    from .cli import main
except KeyboardInterrupt:
    print("vae_lessons: interrupted: while starting; nothing was done", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
