"""`imsim capture module`: capture any nn.Module named by a factory `PKG.MOD:FACTORY` or
`path/to/file.py:FACTORY`.

Contract: `FACTORY()` (no arguments) returns `(module, inputs)` or `(module, inputs, loss_fn)`:
`module` an nn.Module, `inputs` one tensor or a tuple/list of tensors (the forward's positional
arguments), `loss_fn(output) -> scalar` the loss whose backward is captured with `--backward`
(default: the output summed; a tuple output: the sum of its tensors' sums). `--input SHAPE`
(e.g. `2x3x32x32`, repeatable, one per forward argument) replaces the example inputs with
seeded standard-normal tensors of those shapes (in the dtype of the module's parameters);
`--input FILE.npy` loads one. A forward that fails on the inputs is a user error (exit 2).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from imsim.errors import bad_value


def load_factory(spec: str) -> Callable[[], Any]:
    """The callable named by `PKG.MOD:FACTORY` or `FILE.py:FACTORY` (the current folder is importable)."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise bad_value("command line", "FACTORY", spec, "must be PKG.MOD:FACTORY or path/to/file.py:FACTORY")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise bad_value("command line", "FACTORY", spec, f"no such file {target}")
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise bad_value("command line", "FACTORY", spec, f"cannot import {exc.name!r} (run from the folder "
                                                             f"that holds it, or give path/to/file.py:FACTORY)") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise bad_value("command line", "FACTORY", spec, f"{target} has no callable {attr!r}")
    return factory


def parse_input(text: str, index: int, seed: int = 0, dtype=None):
    """One forward argument from --input: a shape `AxBxC` (seeded N(0, 1), `dtype`, default
    float32) or a .npy file."""
    import torch

    if text.endswith(".npy"):
        try:
            return torch.from_numpy(np.load(text, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise bad_value("command line", "--input", text, f"cannot read the .npy file ({exc})") from None
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise bad_value("command line", "--input", text, "must be a shape like 2x3x32x32 (positive integers) "
                                                         "or a .npy file")
    gen = torch.Generator().manual_seed(seed + index)
    return torch.randn(shape, generator=gen, dtype=dtype or torch.float32)


def _sum_loss(out):
    import torch

    if isinstance(out, (tuple, list)):
        return sum(_sum_loss(o) for o in out if isinstance(o, torch.Tensor) or isinstance(o, (tuple, list)))
    return out.sum()


def capture_factory(spec: str, inputs: list[str] | None = None, *, backward: bool = False, seed: int = 0):
    """(trace, info) of the module a factory builds, on its example inputs or on `--input`s."""
    import torch

    from imsim.trace.capture import capture_gemms

    made = load_factory(spec)()
    if not isinstance(made, (tuple, list)) or len(made) not in (2, 3) or not isinstance(made[0], torch.nn.Module):
        raise bad_value("command line", "FACTORY", spec, "must return (module, inputs) or (module, inputs, loss_fn)")
    model, example = made[0], made[1]
    loss_fn = made[2] if len(made) == 3 else _sum_loss
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    args = [parse_input(t, i, seed, dtype) for i, t in enumerate(inputs)] if inputs else (
        list(example) if isinstance(example, (tuple, list)) else [example])
    if not backward:
        torch.set_grad_enabled(False)
    try:
        trace = capture_gemms(model, lambda: loss_fn(model(*args)) if backward else model(*args),
                              model_name=type(model).__name__, backward=backward)
    except (RuntimeError, TypeError, ValueError) as exc:  # the user's module rejected these inputs
        shapes = ", ".join("x".join(map(str, a.shape)) or "scalar" for a in args)
        raise bad_value("command line", "--input" if inputs else "FACTORY", shapes or spec,
                        f"the module's forward failed on these inputs: {str(exc).splitlines()[0][:200]}") from None
    finally:
        torch.set_grad_enabled(True)
    info = {"model": type(model).__name__, "factory": spec, "inputs": [list(a.shape) for a in args],
            "backward": backward, "gemms": len(trace), "macs": trace.macs,
            "skipped_ops": dict(trace.meta.get("skipped_ops", {}))}
    return trace, info
