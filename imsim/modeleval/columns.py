"""Model-quality columns of a sweep point (`eval: minilm` in a spec).

Quality depends only on the quantization setting, so the columns come from
imsim.modeleval.evaluate.model_quality, computed once per (model, quantizer, beta, levels,
w_levels, granularity) per worker process, however many arrays and dataflows share it. They are
the quantized run's metrics, which equal every unpacked run's (`imsim eval` checks that bit for bit).
"""
from __future__ import annotations

from typing import Any


def point_setting(point, granularity: str):
    """The QuantSetting of a sweep point (its quantizer, beta and resolved levels; the model's
    granularity)."""
    from imsim.modeleval.gemm import QuantSetting

    return QuantSetting(quantizer=point.quantizer, beta=float(point.beta), levels=point.levels,
                        w_levels=point.w_levels, granularity=granularity)


def model_columns(point) -> dict[str, Any]:
    """{<model>_<metric>: value} for every model the point's spec asks for."""
    from imsim.models.minilm import set_offline
    from imsim.modeleval.evaluate import model_quality
    from imsim.modeleval.registry import get_model

    set_offline()
    out: dict[str, Any] = {}
    for name in point.eval:
        spec = get_model(name)
        metrics = model_quality(name, point_setting(point, spec.granularity), point.hw.a_bits, point.hw.w_bits)
        out.update({f"{name}_{k}": v for k, v in metrics.items()})
    return out
