"""imsim.blas: every process that runs imsim work uses one BLAS thread (sweep workers included)."""
from __future__ import annotations

import subprocess
import sys

from imsim.blas import blas_threads


def test_limit_in_a_fresh_process_caps_the_loaded_blas():
    code = ("import numpy; from imsim.blas import limit_blas_threads, blas_threads; "
            "limit_blas_threads(1); print(blas_threads())")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[1]"


def _threads_in_worker() -> list[int]:
    import numpy  # noqa: F401  (loads BLAS if the parent had not: the environment then applies)

    return blas_threads()


def test_pool_workers_run_one_blas_thread():
    from imsim.workers import fork_pool

    with fork_pool(1) as pool:  # the pool of the sweep, `imsim run --trace` and the demo
        assert pool.submit(_threads_in_worker).result() == [1]


def test_the_evaluator_limits_its_process():
    code = ("import numpy, threadpoolctl; threadpoolctl.threadpool_limits(2)\n"
            "from imsim.blas import blas_threads; before = blas_threads()\n"
            "from imsim.sweep.evaluate import evaluate_points; evaluate_points([])\n"
            "print(before, blas_threads())")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["[2]", "[1]"]
