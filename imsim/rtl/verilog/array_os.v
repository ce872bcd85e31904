// imsim reference design: output-stationary (os) systolic array, plain Verilog-2005.
//
// ROWS x COLS PEs, signed A operands (A_W bits, left edge), signed B operands (B_W bits, top
// edge), signed ACC_W-bit accumulators that wrap. One fold computes a ROWS x COLS block of
// C = A_t (ROWS x T) x B_t (T x COLS); the feeder presents column k of A_t on a_col and row k
// of B_t on b_row in feed cycle k, UNSKEWED, with in_first (k = 0) and in_last (k = T - 1)
// tags; the array skews internally (row i of A by i cycles, column j of B by j cycles), so
// PE (i, j) does the k-th MAC of a fold fed from cycle s in cycle s + i + j + k. The tags
// travel with the A operand. Idle cycles are fed as zeros (a zero MAC changes nothing).
//
// OVERLAP = 1 (`pipelined` timing): each PE has a shadow output register (ACC_W bits). In its
//   last MAC the PE writes its finished sum to the shadow register, and the next fold's first
//   MAC overwrites the accumulator, so fold f + 1 may be fed max(T, ROWS) cycles after fold f.
//   Column j drains its shadow chain through the bottom edge, bottom row first, starting the
//   cycle after PE (ROWS-1, j)'s last MAC: out_valid[j] is high for ROWS cycles and out_data[j]
//   holds rows ROWS-1, ..., 0. During drain step d only shadow rows i > d shift down, so a
//   shadow register refilled by the next fold (at step >= i) is never overwritten.
//   One fold alone: last result out in cycle s + 2 ROWS + COLS + T - 3.
// OVERLAP = 0 (`scalesim` timing, SCALE-Sim 3.0.0's os count): no shadow registers; each PE
//   presents its finished sum on its own output port (pe_valid / pe_data) in the cycle of its
//   last MAC, as SCALE-Sim's output demand matrix assumes. One fold alone: last result out in
//   cycle s + ROWS + COLS + T - 3; folds must not overlap.
// Extra registers per PE beyond the plain PE (a, b pipeline registers, accumulator, 2 tag
// bits): OVERLAP = 1: ACC_W shadow bits; OVERLAP = 0: none. Per column (OVERLAP = 1): a drain
// step counter and a drain flag.
`timescale 1ns/1ps
/* verilator lint_off DECLFILENAME */
/* verilator lint_off UNUSEDSIGNAL */

module imsim_array_os #(
    parameter ROWS    = 4,
    parameter COLS    = 4,
    parameter A_W     = 8,
    parameter B_W     = 8,
    parameter ACC_W   = 32,
    parameter OVERLAP = 1
) (
    input  wire                       clk,
    input  wire                       rst,
    input  wire                       in_first,
    input  wire                       in_last,
    input  wire [ROWS*A_W-1:0]        a_col,
    input  wire [COLS*B_W-1:0]        b_row,
    output wire [COLS-1:0]            out_valid,   // OVERLAP = 1: bottom edge of column j
    output wire [COLS*ACC_W-1:0]      out_data,
    output wire [ROWS*COLS-1:0]       pe_valid,    // OVERLAP = 0: PE (i, j) at bit i*COLS + j
    output wire [ROWS*COLS*ACC_W-1:0] pe_data
);
    // ---- skew lines: row i of A (with its tags) delayed by i cycles, column j of B by j ----
    wire [A_W+1:0] a_edge [0:ROWS-1];   // {last, first, a}
    wire [B_W-1:0] b_edge [0:COLS-1];

    genvar i, j;
    generate
        for (i = 0; i < ROWS; i = i + 1) begin : a_skew
            imsim_delay #(.W(A_W+2), .D(i)) line (
                .clk(clk), .rst(rst), .x({in_last, in_first, a_col[i*A_W +: A_W]}), .y(a_edge[i]));
        end
        for (j = 0; j < COLS; j = j + 1) begin : b_skew
            imsim_delay #(.W(B_W), .D(j)) line (
                .clk(clk), .rst(rst), .x(b_row[j*B_W +: B_W]), .y(b_edge[j]));
        end
    endgenerate

    // ---- PE grid ----------------------------------------------------------------------
    // a_h[i*(COLS+1) + j]: {last, first, a} entering PE (i, j) from the left;
    // b_v[i*COLS + j]: B entering PE (i, j) from above; sh[i*COLS + j]: shadow of PE (i, j).
    wire [A_W+1:0]   a_h [0:ROWS*(COLS+1)-1];
    wire [B_W-1:0]   b_v [0:(ROWS+1)*COLS-1];
    wire [ACC_W-1:0] sh  [0:ROWS*COLS-1];
    wire             cap [0:ROWS*COLS-1];   // PE (i, j) does its last MAC this cycle

    // drain control per column (OVERLAP = 1)
    reg  [31:0] dstep [0:COLS-1];
    reg         dact  [0:COLS-1];

    generate
        for (i = 0; i < ROWS; i = i + 1) begin : row
            assign a_h[i*(COLS+1)] = a_edge[i];
            for (j = 0; j < COLS; j = j + 1) begin : col
                if (i == 0) begin : top
                    assign b_v[j] = b_edge[j];
                end
                wire [A_W+1:0] ain = a_h[i*(COLS+1) + j];
                wire [B_W-1:0] bin = b_v[i*COLS + j];
                reg  [A_W+1:0] a_q;
                reg  [B_W-1:0] b_q;
                reg  [ACC_W-1:0] acc;
                wire signed [A_W-1:0] av = ain[A_W-1:0];
                wire signed [B_W-1:0] bv = bin;
                wire signed [ACC_W-1:0] prod = av * bv;
                wire [ACC_W-1:0] sum = (ain[A_W] ? {ACC_W{1'b0}} : acc) + prod;
                assign cap[i*COLS + j] = ain[A_W+1];
                always @(posedge clk) begin
                    if (rst) begin
                        a_q <= {(A_W+2){1'b0}};
                        b_q <= {B_W{1'b0}};
                        acc <= {ACC_W{1'b0}};
                    end else begin
                        a_q <= ain;
                        b_q <= bin;
                        acc <= sum;
                    end
                end
                assign a_h[i*(COLS+1) + j + 1] = a_q;
                assign b_v[(i+1)*COLS + j] = b_q;
                if (OVERLAP != 0) begin : shadow
                    reg [ACC_W-1:0] s_q;
                    always @(posedge clk) begin
                        if (rst)
                            s_q <= {ACC_W{1'b0}};
                        else if (ain[A_W+1])
                            s_q <= sum;                         // capture has priority
                        else if (i > 0 && dact[j] && dstep[j] < i)
                            s_q <= sh[(i > 0 ? i-1 : 0)*COLS + j];  // drain shift
                    end
                    assign sh[i*COLS + j] = s_q;
                    assign pe_valid[i*COLS + j] = 1'b0;
                    assign pe_data[(i*COLS + j)*ACC_W +: ACC_W] = {ACC_W{1'b0}};
                end else begin : port
                    assign sh[i*COLS + j] = {ACC_W{1'b0}};
                    assign pe_valid[i*COLS + j] = ain[A_W+1];
                    assign pe_data[(i*COLS + j)*ACC_W +: ACC_W] = sum;
                end
            end
        end
        for (j = 0; j < COLS; j = j + 1) begin : drain
            if (OVERLAP != 0) begin : chain
                // starts the cycle after the bottom PE's last MAC, lasts ROWS cycles
                always @(posedge clk) begin
                    if (rst) begin
                        dact[j]  <= 1'b0;
                        dstep[j] <= 32'd0;
                    end else if (cap[(ROWS-1)*COLS + j]) begin
                        dact[j]  <= 1'b1;
                        dstep[j] <= 32'd0;
                    end else if (dact[j]) begin
                        dact[j]  <= (dstep[j] != ROWS - 1);
                        dstep[j] <= dstep[j] + 32'd1;
                    end
                end
                assign out_valid[j] = dact[j];
                assign out_data[j*ACC_W +: ACC_W] = sh[(ROWS-1)*COLS + j];
            end else begin : none
                always @(posedge clk) begin
                    dact[j]  <= 1'b0;
                    dstep[j] <= 32'd0;
                end
                assign out_valid[j] = 1'b0;
                assign out_data[j*ACC_W +: ACC_W] = {ACC_W{1'b0}};
            end
        end
    endgenerate
endmodule
