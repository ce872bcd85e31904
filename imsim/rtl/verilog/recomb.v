// imsim reference design: the recombination unit (plain Verilog-2005).
//
// Folds the array's PE-level results back into C with the unpacking plan (IM-Unpack):
//     C[row_src[i], col_src[j]] += psum[p, i, j] << (pass_shift[p] + row_shift[i] + col_shift[j])
// LANES elements per cycle: lane l presents (p, i, j, value) with in_valid[l]. A *base*
// element (p = 0, i < M, j < N: an original line of the first pass, shift 0) is written to the
// C buffer (the array's own output write); every other element is one shift-and-add
// (read-modify-write of the C buffer, OUT_W-bit signed, wraps). Updates of one cycle are
// applied lane by lane, so lanes may hit the same element. The plan tables (32-bit words) are
// read from PLAN_DIR with $readmemh: pass_shift.hex, row_src.hex, row_shift.hex, col_src.hex,
// col_shift.hex, as written by `imsim rtl export`.
// Throughput: LANES elements per cycle, so ops elements take ceil(ops / LANES) cycles.
`timescale 1ns/1ps
/* verilator lint_off DECLFILENAME */

module imsim_recomb #(
    parameter LANES = 4,
    parameter IN_W  = 32,
    parameter OUT_W = 64,
    parameter M     = 4,    // rows of C
    parameter N     = 4,    // columns of C
    parameter ML    = 4,    // low-bit rows (M')
    parameter NL    = 4,    // low-bit columns (N')
    parameter NPASS = 1
) (
    input  wire                  clk,
    input  wire [LANES-1:0]      in_valid,
    input  wire [LANES*32-1:0]   in_p,
    input  wire [LANES*32-1:0]   in_i,
    input  wire [LANES*32-1:0]   in_j,
    input  wire [LANES*IN_W-1:0] in_value
);
    localparam W = IN_W + OUT_W;

    reg [31:0]      pass_shift [0:NPASS-1];
    reg [31:0]      row_src    [0:ML-1];
    reg [31:0]      row_shift  [0:ML-1];
    reg [31:0]      col_src    [0:NL-1];
    reg [31:0]      col_shift  [0:NL-1];
    reg [OUT_W-1:0] cbuf       [0:M*N-1];

    integer l, p, i, j, dest, sh;
    reg signed [IN_W-1:0] v;
    reg [W-1:0] ext;

    always @(posedge clk) begin
        for (l = 0; l < LANES; l = l + 1) begin
            if (in_valid[l]) begin
                p = in_p[l*32 +: 32];
                i = in_i[l*32 +: 32];
                j = in_j[l*32 +: 32];
                v = in_value[l*IN_W +: IN_W];
                ext = {{OUT_W{v[IN_W-1]}}, v};
                dest = row_src[i] * N + col_src[j];
                sh = pass_shift[p] + row_shift[i] + col_shift[j];
                if (p == 0 && i < M && j < N)
                    cbuf[dest] = ext[OUT_W-1:0];
                else
                    cbuf[dest] = cbuf[dest] + (ext[OUT_W-1:0] << sh);
            end
        end
    end
endmodule
