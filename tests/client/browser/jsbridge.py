"""Run a function of the device core's JS modules (client/browser/) under node on numpy inputs.

Arrays travel as raw buffers beside a JSON header (tests/client/browser/run_js.mjs): HxW or HxWxC
numpy arrays become the JS core's row-major mats and come back as HxWxC arrays; 1-D arrays travel as
bare typed arrays.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

NODE = shutil.which("node")
RUNNER = Path(__file__).with_name("run_js.mjs")


def result_of(step: int) -> dict:
    """In call_js's steps: the answer of step `step`."""
    return {"__result__": step}


def require_node() -> None:
    if NODE is None:
        pytest.skip("node is not installed: the JS core cannot run")


def call_js(
    module: str,
    function: str,
    *args,
    steps: list[tuple[str, list]] | None = None,
    inplace: tuple[int, ...] = (),
):
    """function(*args) from client/browser/<module>; numpy arrays in and out.

    steps: new function(*args), then instance.method(*step_args) for each (method, step_args): the
    answers, in a list; an argument result_of(k) stands for step k's answer.
    inplace: the answer is (returned value, [those arguments after the call])."""
    require_node()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        arrays: list[np.ndarray] = []

        def dump(node):
            if isinstance(node, np.ndarray):
                arrays.append(np.ascontiguousarray(node))
                (folder / f"in_{len(arrays) - 1}.bin").write_bytes(arrays[-1].tobytes())
                return {"__mat__": len(arrays) - 1, "dtype": str(node.dtype), "shape": list(node.shape)}
            if isinstance(node, list | tuple):
                return [dump(v) for v in node]
            if isinstance(node, dict):
                return {k: dump(v) for k, v in node.items()}
            if isinstance(node, np.generic):
                return node.item()
            return node

        call = {"module": module, "function": function, "args": dump(list(args))}
        if inplace:
            call["inplace"] = list(inplace)
        if steps is not None:
            call["steps"] = [{"method": method, "args": dump(list(step_args))} for method, step_args in steps]
        (folder / "call.json").write_text(json.dumps(call))
        done = subprocess.run([NODE, str(RUNNER), tmp], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"node failed: {done.stderr.strip()}")

        def read(node):
            if isinstance(node, list):
                return [read(v) for v in node]
            if isinstance(node, dict):
                if "__mat__" in node:
                    data = (folder / f"out_{node['__mat__']}.bin").read_bytes()
                    return np.frombuffer(data, dtype=node["dtype"]).reshape(node["shape"]).copy()
                return {k: read(v) for k, v in node.items()}
            return node

        return read(json.loads((folder / "result.json").read_text()))
