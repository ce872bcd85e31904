// imsim testbench for the recombination unit (plain Verilog-2005, run in the export folder).
//
// Reads the PE-level results (IN_FILE, default results.hex: NPASS x ML x NL, IN_W bits, the
// array testbench's output) and the plan tables, writes the base elements (the array's own
// output write, not counted), then streams every other element through imsim_recomb, LANES per
// cycle, in (p, i, j) order, and writes C (M x N, OUT_W bits) to c_results.hex. Prints
//   IMSIM_RECOMB ops=<elements> first=<cycle of the first op> last=<cycle of the last op>
`timescale 1ns/1ps

module tb_recomb;
    parameter LANES = 4;
    parameter IN_W  = 32;
    parameter OUT_W = 64;
    parameter M     = 4;
    parameter N     = 4;
    parameter ML    = 4;
    parameter NL    = 4;
    parameter NPASS = 1;
    parameter IN_FILE = "results.hex";

    reg clk = 1'b0;
    always #5 clk = ~clk;

    reg  [LANES-1:0]      in_valid = {LANES{1'b0}};
    reg  [LANES*32-1:0]   in_p = {LANES*32{1'b0}};
    reg  [LANES*32-1:0]   in_i = {LANES*32{1'b0}};
    reg  [LANES*32-1:0]   in_j = {LANES*32{1'b0}};
    reg  [LANES*IN_W-1:0] in_value = {LANES*IN_W{1'b0}};

    imsim_recomb #(.LANES(LANES), .IN_W(IN_W), .OUT_W(OUT_W), .M(M), .N(N), .ML(ML), .NL(NL),
                   .NPASS(NPASS)) dut (
        .clk(clk), .in_valid(in_valid), .in_p(in_p), .in_i(in_i), .in_j(in_j),
        .in_value(in_value));

    reg [IN_W-1:0] psum [0:NPASS*ML*NL-1];

    integer cyc = 0;
    always @(posedge clk) cyc = cyc + 1;

    integer phase, e, l, p, i, j, ops, first, last;
    initial begin
        $readmemh(IN_FILE, psum);
        $readmemh("pass_shift.hex", dut.pass_shift);
        $readmemh("row_src.hex", dut.row_src);
        $readmemh("row_shift.hex", dut.row_shift);
        $readmemh("col_src.hex", dut.col_src);
        $readmemh("col_shift.hex", dut.col_shift);
        ops = 0; first = -1; last = -1;
        // phase 0: base elements (written), phase 1: shift-and-adds (counted); inputs change
        // on the falling edge, LANES elements per cycle
        @(negedge clk);
        for (phase = 0; phase < 2; phase = phase + 1) begin
            l = 0;
            for (e = 0; e < NPASS*ML*NL; e = e + 1) begin
                p = e / (ML*NL);
                i = (e / NL) % ML;
                j = e % NL;
                if ((p == 0 && i < M && j < N) == (phase == 0)) begin
                    in_valid[l] = 1'b1;
                    in_p[l*32 +: 32] = p;
                    in_i[l*32 +: 32] = i;
                    in_j[l*32 +: 32] = j;
                    in_value[l*IN_W +: IN_W] = psum[e];
                    if (phase == 1) begin
                        ops = ops + 1;
                        if (first < 0) first = cyc;
                        last = cyc;
                    end
                    l = l + 1;
                    if (l == LANES) begin
                        @(negedge clk);
                        in_valid = {LANES{1'b0}};
                        l = 0;
                    end
                end
            end
            if (l != 0) begin
                @(negedge clk);
                in_valid = {LANES{1'b0}};
            end
        end
        @(negedge clk);
        $writememh("c_results.hex", dut.cbuf);
        $display("IMSIM_RECOMB ops=%0d first=%0d last=%0d", ops, first, last);
        $finish;
    end
endmodule
