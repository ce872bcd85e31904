"""RTL validation: golden vectors for any testbench, a reference Verilog array, result compare.

    golden.py    pure: integer GEMM + HwConfig -> low-bit operands, PE results, final C
    hexfile.py   $readmemh / $writememh files (strict reading)
    export.py    write hex + npy + manifest.json
    cycles.py    cycle count of the reference array (imsim's model, events named)
    compare.py   compare any RTL's results with the golden values
    icarus.py    run the reference testbench with Icarus Verilog
    cocotb_tb.py cocotb test driving the reference array with exported vectors
    verilog/     systolic_os.v (array + PE), tb_systolic_os.v (file-based testbench)
See docs/rtl.md.
"""
