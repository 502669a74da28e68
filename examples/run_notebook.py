"""Run a notebook top to bottom in a fresh kernel of this Python, as CI does (.ci/run).

    .venv/bin/pip install -e '.[notebook]'
    .venv/bin/python examples/run_notebook.py examples/quickstart.ipynb [--save OUT.ipynb]

The kernel is this very interpreter (a kernelspec written to a temporary folder), never
whatever "python3" a machine has registered. The notebook runs from its own folder, as
Jupyter runs it, and the files it writes there (renders/) go again afterwards unless they
were there before. It fails on the first cell that raises, and when any output carries
TensorFlow's C++ start-up lines (the API is meant to keep them off the notebook).
The notebook file itself is left as it is: commit it with its outputs cleared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from ipykernel.kernelspec import install
from nbclient import NotebookClient

KERNEL_NAME = "dreamreel-notebook-run"
CELL_TIMEOUT_S = 600
# What TensorFlow prints through absl before Python's logging applies (quiet_tensorflow.py).
TENSORFLOW_CHATTER = (
    "oneDNN",
    "absl::",
    "cuda_",
    "cpu_feature_guard",
    "I0000 ",
    "W0000 ",
    "E0000 ",
)


def run(path: Path, save: Path | None = None) -> None:
    notebook = nbformat.read(path, as_version=4)
    folder = path.resolve().parent
    made_here = [p for p in (folder / "renders",) if not p.exists()]
    with tempfile.TemporaryDirectory() as kernels:
        install(prefix=kernels, kernel_name=KERNEL_NAME)  # this Python, not the machine's
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(Path(kernels) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH", "")]
        )
        client = NotebookClient(
            notebook,
            kernel_name=KERNEL_NAME,
            timeout=CELL_TIMEOUT_S,
            resources={"metadata": {"path": str(folder)}},
        )
        try:
            client.execute()
        finally:
            for made in made_here:
                shutil.rmtree(made, ignore_errors=True)
            if save is not None:
                nbformat.write(notebook, save)
    leaked = [line for line in _output_text(notebook) if any(c in line for c in TENSORFLOW_CHATTER)]
    if leaked:
        sys.exit(f"{path}: TensorFlow's start-up lines reached the notebook: {leaked[0][:200]}")
    print(f"{path}: {len(notebook.cells)} cells ran", file=sys.stderr)


def _output_text(notebook) -> list[str]:
    """The lines of every stream (stdout, stderr) and plain-text output: not the HTML,
    whose base64 GIFs could spell anything."""
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            lines += str(text).splitlines()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--save", type=Path, help="also write the executed notebook here")
    args = parser.parse_args()
    run(args.notebook, args.save)


if __name__ == "__main__":
    main()
