"""imsim.memo: memoised memory simulation and area return exactly what the models return,
keyed on every input they read."""
from __future__ import annotations

import pytest

from imsim import memo
from imsim.area import area_of_design
from imsim.hwconfig import HwConfig
from imsim.memory import MemoryParams, PassShape, simulate_memory
from imsim.tech import load_technology


@pytest.fixture(autouse=True)
def _fresh():
    memo.clear()
    yield
    memo.clear()


def test_memory_result_equals_the_model_and_is_reused():
    p = MemoryParams.from_hw(HwConfig(rows=8, cols=8))
    passes = [PassShape(40, 30, 20, 40, 20)]
    first = memo.simulate_memory(p, passes, timing="pipelined")
    assert first == simulate_memory(p, passes, timing="pipelined")
    again = memo.simulate_memory(p, list(passes), timing="pipelined")
    assert again is first
    assert memo.stats()["memory"] == {"hits": 1, "misses": 1, "entries": 1}


@pytest.mark.parametrize("change", [
    {"hw": {"dram_bw_bytes_per_cycle": 4.0}},
    {"hw": {"sram_a_kib": 1.0}},
    {"hw": {"double_buffered": False}},
    {"hw": {"dataflow": "ws"}},
    {"passes": [PassShape(40, 30, 20, 0, 0)]},
    {"passes": [PassShape(40, 20, 20, 40, 20), PassShape(40, 10, 20, 0, 0)]},
    {"timing": "scalesim"},
])
def test_every_input_is_part_of_the_key(change):
    base_hw = {"rows": 8, "cols": 8, "dram_bw_bytes_per_cycle": 2.0}
    base = dict(hw=base_hw, passes=[PassShape(40, 30, 20, 40, 20)], timing="pipelined")
    memo.simulate_memory(MemoryParams.from_hw(HwConfig(**base_hw)), base["passes"], timing="pipelined")
    new = {**base, **change}
    if "hw" in change:
        new["hw"] = {**base_hw, **change["hw"]}
    p = MemoryParams.from_hw(HwConfig(**new["hw"]))
    got = memo.simulate_memory(p, new["passes"], timing=new["timing"])
    assert memo.stats()["memory"]["misses"] == 2
    assert got == simulate_memory(p, new["passes"], timing=new["timing"])


def test_area_is_memoised_per_design_and_table():
    tech = load_technology("45nm")
    hw = HwConfig(rows=16, cols=16)
    assert memo.area_of_design(hw, tech) == area_of_design(hw, tech)
    assert memo.area_of_design(hw, tech) is memo.area_of_design(hw, tech)
    other = memo.area_of_design(hw.replace(rows=8), tech)
    assert other.area_um2 < memo.area_of_design(hw, tech).area_um2
    assert memo.area_of_design(hw, load_technology("28nm")) == area_of_design(hw, load_technology("28nm"))


def test_simulate_gemm_gives_the_same_result_cold_and_from_the_cache():
    import numpy as np

    from imsim.simulate import simulate_gemm
    from imsim.unpack import unpack_gemm

    rng = np.random.default_rng(1)
    hw = HwConfig(rows=8, cols=8)
    A, B = rng.integers(-300, 300, (12, 20)), rng.integers(-100, 100, (20, 9))
    ug = unpack_gemm(A, B, 8, 8, "auto")
    warm_up = simulate_gemm(hw, ug, operands=(A, B))
    cached = simulate_gemm(hw, ug, operands=(A, B))
    memo.clear()
    cold = simulate_gemm(hw, ug, operands=(A, B))
    assert cached.to_dict() == cold.to_dict() == warm_up.to_dict()
    assert memo.stats()["memory"]["misses"] == 1


def test_technology_is_reloaded_when_its_file_changes(tmp_path):
    import os

    src = load_technology("45nm").source_file
    path = tmp_path / "t.yaml"
    path.write_text(open(src).read())
    first = memo.technology(str(path))
    assert memo.technology(str(path)) is first
    text = path.read_text().replace("name: ", "name: changed-", 1)
    path.write_text(text)
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    second = memo.technology(str(path))
    assert second is not first and second.name.startswith("changed-")
