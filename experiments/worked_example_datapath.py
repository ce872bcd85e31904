"""The hand-checkable examples of docs/model-memory.md ("C data path") and
docs/model-energy-area.md ("Unpack unit", "Timing-mode registers"), computed by the model.

    python experiments/worked_example_datapath.py

tests/test_datapath.py recomputes each number by hand from the formulas in the docs.
"""
from __future__ import annotations

from imsim.area import area_of_design, timing_register_bits, unpack_lane_area_um2, unpack_mux_bits
from imsim.energy import unpack_op_energy_pj
from imsim.hwconfig import HwConfig
from imsim.memory import MemoryParams, PassShape, simulate_memory
from imsim.tech import load_technology

# 4x4 os array; a 4x8x4 GEMM whose A has 2 extra (unpacked) rows: the array runs 6x8x4,
# 16 base outputs and 8 extra ones; C is written at out_bits = 40 (wider than acc_bits = 32)
SHAPE = PassShape(M=6, K=8, N=4, base_rows=4, base_cols=4, out_bits=40)
ON_CHIP = HwConfig(rows=4, cols=4, dataflow="os", sram_c_kib=1.0, dram_latency_cycles=0)
SPILL = ON_CHIP.replace(sram_c_kib=0.0625)  # 64 B: a slot of 32 B < one 4x4 tile at 40 bits (80 B)


def recombination_examples() -> dict:
    out = {}
    for name, hw in (("on_chip", ON_CHIP), ("spill", SPILL)):
        r = simulate_memory(MemoryParams.from_hw(hw), [SHAPE])
        out[name] = {k: getattr(r, k) for k in ("recomb_ops", "spilled_outputs", "dram_write_bytes",
                                                 "dram_spill_read_bytes", "sram_c_read_bytes",
                                                 "sram_c_write_bytes")}
    return out


def unpack_unit_example() -> dict:
    tech = load_technology("45nm")
    hw = HwConfig()  # default: 32 lanes, 16-bit input, slices 8-bit digits
    return {"mux_bits": unpack_mux_bits(16, 8),
            "lane_area_um2": unpack_lane_area_um2(tech, 16, 8),
            "unit_area_um2": area_of_design(hw).unpack_um2,
            "op_energy_pj": unpack_op_energy_pj(tech, 16, 8)}


def timing_registers_example() -> dict:
    out = {}
    for df in ("os", "ws", "is"):
        for timing in ("pipelined", "scalesim"):
            out[(df, timing)] = timing_register_bits(32, 32, 8, 8, 32, df, timing)
    return out


if __name__ == "__main__":
    for k, v in recombination_examples().items():
        print(k, v)
    print("unpack unit", unpack_unit_example())
    for k, v in timing_registers_example().items():
        print("timing regs (shadow, skew) bits", k, v)
