"""`mlrepro` starts without the heavy libraries: a command imports them only when it runs."""

from __future__ import annotations

import subprocess
import sys

from mlrepro.diff.cli import FORMATS
from mlrepro.diff.render import RENDERERS

HEAVY = ("pandas", "git", "sklearn", "matplotlib", "dvc", "sqlalchemy", "numpy")


def test_start_up_imports_no_heavy_library() -> None:
    code = (
        "import sys, mlrepro.cli, mlrepro.snapshot.take\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_diff_formats_are_the_renderers() -> None:
    assert tuple(sorted(RENDERERS)) == FORMATS
