"""imsim.trace_run: a trace's GEMMs in worker processes give the very rows of a serial run, in
trace order; a user mistake in a worker surfaces as the same one-line error."""
from __future__ import annotations

import os

import numpy as np
import pytest

from imsim.cli import main
from imsim.errors import UserError
from imsim.hwconfig import load_hw_config
from imsim.trace import make_record, open_trace, save_trace
from imsim import trace_run
from imsim.trace_run import CHUNK, MIN_PARALLEL, GemmJob, run_records

_REAL_RUN_CHUNK = trace_run._run_chunk


def _trace(tmp_path, n: int, heavy: bool = True):
    rng = np.random.default_rng(7)
    recs = []
    for i in range(n):
        M, K, N = (int(x) for x in rng.integers(2, 12, size=3))
        A, B = rng.normal(size=(M, K)), rng.normal(size=(K, N))
        if heavy:
            A[0, 0] *= 40.0  # a heavy hitter: something to unpack at beta < 1
        recs.append(make_record(A, B, name=f"g{i}", kind="linear" if i % 3 else "grad_weight",
                                phase="fwd" if i % 2 else "bwd", model="m", index=i))
    return open_trace(save_trace(tmp_path / "t.npz", recs))


def _rows(trace, hw, job, workers):
    return [(meta, r.to_dict()) for meta, r in run_records(trace, hw, job, workers=workers)]


def test_workers_give_the_serial_rows_in_trace_order(tmp_path):
    n = MIN_PARALLEL + 3 * CHUNK + 5  # several chunks, the last one short
    trace = _trace(tmp_path, n)
    hw = load_hw_config("default", ["a_bits=4", "w_bits=4"])
    job = GemmJob(strategy="auto", beta=0.9)
    serial = _rows(trace, hw, job, 0)
    parallel = _rows(trace, hw, job, 2)
    assert [r["name"] for _, r in serial] == [f"g{i}" for i in range(n)]
    assert parallel == serial
    assert all(r["exact"] is True for _, r in parallel)
    assert any(r["unpack_ratio"] > 1 for _, r in parallel)  # not a trivial run


def test_progress_counts_every_record(tmp_path):
    trace = _trace(tmp_path, MIN_PARALLEL + 1)
    hw = load_hw_config("default", ["a_bits=4", "w_bits=4"])
    seen = []
    list(run_records(trace, hw, GemmJob(), workers=2, progress=seen.append))
    assert sum(seen) == len(trace) and len(seen) > 1


def test_a_mistake_in_a_worker_is_the_serial_one_line_error(tmp_path):
    trace = _trace(tmp_path, MIN_PARALLEL + CHUNK)
    hw = load_hw_config("default", ["a_bits=2", "w_bits=2"])
    job = GemmJob(strategy="none", beta=0.9)  # heavy hitters do not fit 2 bits without unpacking
    messages = []
    for workers in (0, 2):
        with pytest.raises(UserError) as err:
            list(run_records(trace, hw, job, workers=workers))
        messages.append(str(err.value))
    assert messages[0] == messages[1] and messages[0].startswith("g0: strategy none")


_PARENT = os.getpid()


def _dies_in_a_worker(bounds):
    if os.getpid() != _PARENT:
        os._exit(1)  # as a worker killed by the kernel (out of memory) would
    return _REAL_RUN_CHUNK(bounds)


@pytest.mark.timeout(120)
def test_a_worker_that_dies_is_one_error_not_a_hang(tmp_path, monkeypatch):
    """A worker killed mid-run (say by the out-of-memory killer) stops the run with a one-line
    error naming what to do, instead of waiting forever for its chunk."""
    trace = _trace(tmp_path, MIN_PARALLEL + CHUNK)
    hw = load_hw_config("default", ["a_bits=4", "w_bits=4"])
    monkeypatch.setattr(trace_run, "_run_chunk", _dies_in_a_worker)
    with pytest.raises(RuntimeError, match="a worker process died.*--workers 0"):
        list(run_records(trace, hw, GemmJob(), workers=2))


def test_cli_workers_flag(tmp_path, capsys):
    trace = _trace(tmp_path, MIN_PARALLEL)
    path = str(trace.path)
    outs = []
    for workers in ("0", "2"):
        assert main(["run", "--trace", path, "--bits", "4", "--beta", "0.9", "--workers", workers]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    assert main(["run", "--trace", path, "--workers", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--workers" in err and "-1" in err


def test_quantize_record_adds_the_reference_product(tmp_path):
    from imsim.reference import reference_gemm
    from imsim.trace_run import quantize_at, quantize_record

    trace = _trace(tmp_path, 1)
    hw = load_hw_config("default", ["a_bits=4", "w_bits=4"])
    job = GemmJob(beta=0.9)
    A, B, meta, quality, ref = quantize_record(trace[0], hw, job)
    assert np.array_equal(ref, reference_gemm(A, B))
    A2, B2, meta2, quality2, ref2 = quantize_at(trace, 0, hw, job)
    assert np.array_equal(A, A2) and np.array_equal(B, B2) and (meta, quality) == (meta2, quality2)
    assert np.array_equal(ref, ref2)
