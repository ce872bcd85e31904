"""Design-space sweeps: YAML spec -> points (spec), resumable results folder (store) and its
part files (parts), local pool / Dask execution (runner), background commits (commit), the
per-point imsim pipeline (evaluate).

Typical use::

    from imsim.sweep import load_spec, run_sweep
    report, tables = run_sweep(load_spec("experiments/smoke.yaml"), "out/smoke", workers=2)
"""
from imsim.sweep.runner import SweepReport, make_tasks, run_sweep
from imsim.sweep.spec import Point, SweepSpec, TraceSpec, load_spec, parse_spec
from imsim.sweep.store import ResultStore, Tables, load_tables, point_totals

__all__ = ["Point", "ResultStore", "SweepReport", "SweepSpec", "Tables", "TraceSpec", "load_spec",
           "load_tables", "make_tasks", "parse_spec", "point_totals", "run_sweep"]
