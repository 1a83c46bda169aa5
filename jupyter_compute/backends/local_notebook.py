"""Notebook jobs of the local backend: papermill-style parameters, and the executor.

The backend checks a notebook with :func:`read_notebook` when it validates a spec and calls
:func:`prepare_notebook` when the job is submitted; the runner then starts
``python -m jupyter_compute.backends.local_notebook <input> <output> --kernel K --cwd DIR
--error-file F`` as the job process. The executed notebook is saved after every cell and at the
end, so it is there even when a cell fails, the job is cancelled or it times out.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

from ..errors import InvalidSpec
from . import local_files as files

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _tags(cell: Mapping[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def inject_parameters(
    nb: nbformat.NotebookNode, params: Mapping[str, Any]
) -> nbformat.NotebookNode:
    """Insert a cell tagged ``injected-parameters`` assigning ``params``, papermill-style.

    It goes right after the cell tagged ``parameters``, or first if there is none; a cell
    injected earlier is replaced.
    """
    cells = [c for c in nb.cells if INJECTED_TAG not in _tags(c)]
    if params:
        source = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in params.items())
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
        if nb.get("nbformat_minor", 0) < 5:
            cell.pop("id", None)  # cell ids only exist from nbformat 4.5
        tagged = [i for i, c in enumerate(cells) if PARAMETERS_TAG in _tags(c)]
        cells.insert(tagged[0] + 1 if tagged else 0, cell)
    nb.cells = cells
    return nb


def read_notebook(source: Path) -> nbformat.NotebookNode:
    """``source`` as a version 4 notebook; InvalidSpec(field="notebook") with the reason if not."""
    try:
        return nbformat.read(str(source), as_version=4)
    except Exception as exc:  # nbformat raises many kinds for what is no notebook
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidSpec(f"cannot read notebook '{source}': {reason}", field="notebook") from exc


def prepare_notebook(source: Path, target: Path, params: Mapping[str, Any]) -> None:
    """Write ``source`` with ``params`` injected to ``target``; InvalidSpec if it is no notebook."""
    nbformat.write(inject_parameters(read_notebook(source), params), str(target))


def _save(nb: nbformat.NotebookNode, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    nbformat.write(nb, str(tmp))
    os.replace(tmp, target)


def _echo(cell: Mapping[str, Any]) -> None:
    """Copy a cell's printed output and errors to the job log."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            stream = sys.stderr if output.get("name") == "stderr" else sys.stdout
            stream.write(output.get("text", ""))
        elif output.get("output_type") == "error":
            sys.stderr.write(_ANSI.sub("", "\n".join(output.get("traceback", []))) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()


def execute(source: Path, target: Path, kernel_name: str, cwd: str, error_file: Path) -> int:
    """Run every cell of ``source`` in a ``kernel_name`` kernel working in ``cwd``; exit code."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(str(source), as_version=4)
    last_cell = {"index": -1}

    def on_cell_executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
        last_cell["index"] = cell_index
        _echo(cell)
        _save(nb, target)

    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        resources={"metadata": {"path": cwd}},
        on_cell_executed=on_cell_executed,
    )
    try:
        client.execute()
        return 0
    except CellExecutionError as exc:
        message = f"cell {last_cell['index'] + 1} raised {exc.ename}: {exc.evalue}"
    except Exception as exc:  # noqa: BLE001 — a kernel that dies or will not start: the job's message says how
        message = f"notebook execution failed: {type(exc).__name__}: {exc}"
    finally:
        _save(nb, target)
    print(message, file=sys.stderr)
    files.write_json(error_file, {"message": message})
    return 1


def main(argv: list[str] | None = None) -> int:
    """Command line of the executor (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m jupyter_compute.backends.local_notebook")
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--kernel", default="python3")
    parser.add_argument("--cwd", default=os.getcwd())
    parser.add_argument("--error-file", type=Path, required=True)
    args = parser.parse_args(argv)
    return execute(args.source, args.target, args.kernel, args.cwd, args.error_file)


if __name__ == "__main__":
    sys.exit(main())
