"""Shared by the tests: loading one of the project's scripts as a module; and, for the tests of
bad input (test_cli_bad_input.py, test_checkpoint.py), running the command line in this
process and editing a loaded checkpoint in place, at a path (a tuple of keys and list indexes)."""
import contextlib
import importlib.util
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_script(name):
    """scripts/NAME.py, imported as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(argv):
    """(exit status, stderr) of vae_lessons.cli.main(argv), run in this process (fast)."""
    from vae_lessons.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main([str(a) for a in argv])
    return status, err.getvalue()


def assert_one_error_line(argv, *fragments):
    """main(argv) returns 2 and prints one line, 'vae_lessons: error: ...', holding each fragment;
    no traceback, and no warning before it."""
    status, err = run_main(argv)
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("vae_lessons: error: ") and "Traceback" not in err, err
    assert all(f in err for f in fragments), err


def parent(obj, path):
    for key in path[:-1]:
        obj = obj[key]
    return obj


def get_at(obj, path):
    return parent(obj, path)[path[-1]]


def set_at(obj, path, value):
    """obj[path[0]][path[1]]... = value; a tuple on the way (Adam's betas) is rebuilt."""
    node = parent(obj, path)
    if isinstance(node, tuple):
        set_at(obj, path[:-1], tuple(value if i == path[-1] else v for i, v in enumerate(node)))
    else:
        node[path[-1]] = value


def delete_at(obj, path):
    node = parent(obj, path)
    if isinstance(node, tuple):
        set_at(obj, path[:-1], tuple(v for i, v in enumerate(node) if i != path[-1]))
    else:
        del node[path[-1]]
