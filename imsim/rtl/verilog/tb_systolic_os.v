// imsim testbench for the reference array (plain Verilog-2005, run in the export folder).
//
// Reads the golden operands written by `imsim rtl export` with $readmemh:
//   a.hex       M x K   A-side operands (A_W bits, row-major)
//   b.hex       K x N   B-side operands (B_W bits, row-major)
//   passes.hex  NPASS x 2 words (32 bits): k_start, k_len of each K pass
// and runs the tile loop
//   for pass p, for tile row tm (ROWS rows of A), for tile column tn (COLS columns of B):
//       one array tile over K positions k_start .. k_start + k_len - 1
// (rows/columns past the edge of the GEMM are fed as zeros and their results dropped).
// Writes the PE-level results (NPASS x M x N, ACC_W bits, row-major) to results.hex with
// $writememh, and prints one line per tile and a summary:
//   IMSIM_TILE pass=<p> tile_row=<tm> tile_col=<tn> cycles=<c>
//   IMSIM_CYCLES total=<sum of tile cycles> tiles=<count>
// A tile's cycles count from the cycle of its first feed (first operand in) to the cycle
// of its last valid result row (last result out), inclusive.
`timescale 1ns/1ps

module tb_systolic_os;
    parameter ROWS  = 4;
    parameter COLS  = 4;
    parameter A_W   = 8;
    parameter B_W   = 8;
    parameter ACC_W = 32;
    parameter M     = 4;   // rows of the low-bit A (M')
    parameter K     = 4;   // reduction length of the low-bit GEMM (K')
    parameter N     = 4;   // columns of the low-bit B (N')
    parameter NPASS = 1;   // K passes (scale classes)

    reg clk = 1'b0;
    reg rst = 1'b1;
    reg in_valid = 1'b0;
    reg [ROWS*A_W-1:0] a_col = {ROWS*A_W{1'b0}};
    reg [COLS*B_W-1:0] b_row = {COLS*B_W{1'b0}};
    wire ready, out_valid;
    wire [31:0] out_row;
    wire [COLS*ACC_W-1:0] c_row;

    imsim_systolic_os #(.ROWS(ROWS), .COLS(COLS), .A_W(A_W), .B_W(B_W), .ACC_W(ACC_W)) dut (
        .clk(clk), .rst(rst), .in_valid(in_valid), .a_col(a_col), .b_row(b_row),
        .ready(ready), .out_valid(out_valid), .out_row(out_row), .c_row(c_row)
    );

    always #5 clk = ~clk;

    reg [A_W-1:0]   a_mem   [0:M*K-1];
    reg [B_W-1:0]   b_mem   [0:K*N-1];
    reg [31:0]      pass_mem[0:2*NPASS-1];
    reg [ACC_W-1:0] res_mem [0:NPASS*M*N-1];

    integer cyc = 0;           // free-running cycle index
    integer tile_start = 0;    // cycle of the current tile's first feed
    integer tile_cycles = 0;
    integer total_cycles = 0;
    integer tiles = 0;
    integer p = 0, tm = 0, tn = 0, kk = 0, i = 0, j = 0, idx = 0;
    integer jj = 0, ridx = 0;  // used only by the sampling block
    reg tile_done = 1'b0;

    // sample at the rising edge that ends each cycle
    always @(posedge clk) begin
        if (!rst) begin
            if (in_valid && ready)
                tile_start = cyc;
            if (out_valid) begin
                for (jj = 0; jj < COLS; jj = jj + 1) begin
                    if (tm*ROWS + out_row < M && tn*COLS + jj < N) begin
                        ridx = (p*M + tm*ROWS + out_row)*N + tn*COLS + jj;
                        res_mem[ridx] = c_row[jj*ACC_W +: ACC_W];
                    end
                end
                if (out_row == 0) begin
                    tile_cycles = cyc - tile_start + 1;
                    tile_done = 1'b1;
                end
            end
            cyc = cyc + 1;
        end
    end

    initial begin
        $readmemh("a.hex", a_mem);
        $readmemh("b.hex", b_mem);
        $readmemh("passes.hex", pass_mem);
        for (idx = 0; idx < NPASS*M*N; idx = idx + 1) res_mem[idx] = {ACC_W{1'b0}};
        repeat (2) @(negedge clk);
        rst = 1'b0;
        for (p = 0; p < NPASS; p = p + 1) begin
            for (tm = 0; tm*ROWS < M; tm = tm + 1) begin
                for (tn = 0; tn*COLS < N; tn = tn + 1) begin
                    @(negedge clk);
                    for (kk = pass_mem[2*p]; kk < pass_mem[2*p] + pass_mem[2*p+1]; kk = kk + 1) begin
                        for (i = 0; i < ROWS; i = i + 1)
                            a_col[i*A_W +: A_W] = (tm*ROWS + i < M) ? a_mem[(tm*ROWS + i)*K + kk] : {A_W{1'b0}};
                        for (j = 0; j < COLS; j = j + 1)
                            b_row[j*B_W +: B_W] = (tn*COLS + j < N) ? b_mem[kk*N + tn*COLS + j] : {B_W{1'b0}};
                        in_valid = 1'b1;
                        @(negedge clk);
                    end
                    in_valid = 1'b0;
                    a_col = {ROWS*A_W{1'b0}};
                    b_row = {COLS*B_W{1'b0}};
                    tile_done = 1'b0;
                    wait (tile_done);
                    wait (ready);
                    total_cycles = total_cycles + tile_cycles;
                    tiles = tiles + 1;
                    $display("IMSIM_TILE pass=%0d tile_row=%0d tile_col=%0d cycles=%0d", p, tm, tn, tile_cycles);
                end
            end
        end
        $writememh("results.hex", res_mem);
        $display("IMSIM_CYCLES total=%0d tiles=%0d", total_cycles, tiles);
        $finish;
    end
endmodule
