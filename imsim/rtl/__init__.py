"""RTL validation: golden vectors for any testbench, a reference design, result compare.

    golden.py     pure: integer GEMM + HwConfig -> low-bit operands, PE results, final C
    hexfile.py    $readmemh / $writememh files (strict reading)
    cycles.py     array jobs and the cycle counts the reference design must show (imsim's model)
    export.py     write hex + npy + manifest.json
    compare.py    compare any RTL's results (and cycles) with the golden values
    simulator.py  build and run a testbench with Icarus Verilog or Verilator
    runs.py       run the reference array and recombination unit on an export
    verilog/      array_os.v, array_stat.v (ws/is), delay.v, recomb.v, tb_imsim.v, tb_recomb.v
See docs/rtl.md.
"""
