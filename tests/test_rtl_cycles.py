"""imsim.rtl.cycles: jobs cover the low-bit GEMM once per pass; counting rules; recombination."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.array import compute_timing
from imsim.rtl.cycles import Job, job_cycles, make_jobs, measured_cycles, recomb_cycles


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 20), n=st.integers(1, 20), ks=st.lists(st.integers(1, 9), min_size=1, max_size=4),
       dataflow=st.sampled_from(["os", "ws", "is"]), band=st.integers(1, 25))
def test_jobs_cover_each_pass_once(m, n, ks, dataflow, band) -> None:
    starts = np.cumsum([0] + ks[:-1]).tolist()
    passes = list(zip(starts, ks))
    jobs = make_jobs((m, sum(ks), n), passes, dataflow, [band] * len(ks))
    for p, (k0, kl) in enumerate(passes):
        cover = np.zeros((m, kl, n), dtype=int)
        for j in (j for j in jobs if j.pass_ == p):
            t = j.tile
            assert (t.k0, t.k1) == (k0, k0 + kl)
            cover[t.m0:t.m1, :, t.n0:t.n1] += 1
        assert (cover == 1).all()
    per_pass = {"os": 1, "ws": -(-m // band), "is": -(-n // band)}[dataflow]
    assert len(jobs) == len(ks) * per_pass


def test_counting_rules_and_model() -> None:
    assert measured_cycles(5, 9, "pipelined") == 5 and measured_cycles(5, 9, "scalesim") == 4
    job = make_jobs((7, 5, 6), [(0, 5)], "os")[0]
    assert isinstance(job, Job) and job.words() == [0, 0, 7, 0, 5, 0, 6]
    assert job_cycles(job, 3, 4, "os", "scalesim") == compute_timing(7, 5, 6, 3, 4, "os", "scalesim").cycles


def test_recomb_cycles_are_ceil_of_ops_over_lanes() -> None:
    assert recomb_cycles(2, 5, 4, 3, 4, 3) == -(-(2 * 5 * 4 - 3 * 4) // 3) == 10
    assert recomb_cycles(1, 3, 4, 3, 4, 8) == 0  # nothing to recombine
