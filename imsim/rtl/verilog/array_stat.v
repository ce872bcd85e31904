// imsim reference design: stationary-operand systolic array for the weight-stationary (ws)
// and input-stationary (is) dataflows, plain Verilog-2005.
//
// ws: the stationary operand is B (rows <- K, columns <- N), rows of A stream (T = M).
// is: the stationary operand is A^T (rows <- K, columns <- M), columns of B stream (T = N);
//     is is ws on C^T = B^T A^T, so both use this array (S_W / D_W = stationary / streamed
//     operand width).
//
// Load: a fold's stationary block enters through the top edge, deepest row first: in load
// step r (r = 0 .. ROWS-1) the feeder presents row ROWS-1-r of the block on ld_row (column j
// at bits [j*S_W +: S_W]) with ld_valid, UNSKEWED; the array delays column j by j cycles, and
// PE (k, j) takes part in the shift in the steps r >= k only (its register is still in use by
// the previous fold before), so after step ROWS-1 every PE holds its own value.
// Stream: in stream cycle m the feeder presents element m of the streamed operand for array
// row k on st_col (bits [k*D_W +: D_W]) with st_valid and st_first (m = 0), UNSKEWED; the
// array delays row k by k cycles; the operand moves right one PE per cycle. PE (k, j) adds
// its product to the partial sum of PE (k-1, j) from the previous cycle, so the sum for
// stream element m leaves the bottom of column j (out_valid[j], out_data[j], combinational:
// written to the accumulator buffer at the end of that cycle) in cycle
// sigma + m + ROWS - 1 + j, sigma = the cycle element 0 was fed.
//
// OVERLAP = 1 (`pipelined` timing): two stationary registers per PE. PE (k, j) switches to
//   the other one when a first-tagged streamed operand reaches it; loads go into the inactive
//   one, so fold f + 1's block shifts in while fold f streams. Fold f + 1's load may start
//   max(T, ROWS) cycles after fold f's.
// OVERLAP = 0 (`scalesim` timing): one stationary register per PE; a fold's load must wait
//   until the previous fold's last MAC.
// Extra registers per PE beyond the plain PE (one S_W stationary register, D_W operand
// pipeline, ACC_W partial-sum register, valid and first tag bits): OVERLAP = 1: S_W bits (the
// second stationary register) + 1 select bit; OVERLAP = 0: none.
`timescale 1ns/1ps
/* verilator lint_off DECLFILENAME */
/* verilator lint_off UNUSEDSIGNAL */

module imsim_array_stat #(
    parameter ROWS    = 4,
    parameter COLS    = 4,
    parameter S_W     = 8,
    parameter D_W     = 8,
    parameter ACC_W   = 32,
    parameter OVERLAP = 1
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  ld_valid,
    input  wire [COLS*S_W-1:0]   ld_row,
    input  wire                  st_valid,
    input  wire                  st_first,
    input  wire [ROWS*D_W-1:0]   st_col,
    output wire [COLS-1:0]       out_valid,
    output wire [COLS*ACC_W-1:0] out_data
);
    localparam SW = 32;   // load step counter width

    // ---- load control: column j sees (ld_valid, step) j cycles late --------------------
    wire           lv  [0:COLS-1];
    wire [SW-1:0]  lst [0:COLS-1];
    wire [S_W-1:0] ld_top [0:COLS-1];
    reg  [SW-1:0]  step;       // load step of the value entering column 0 this cycle
    always @(posedge clk) begin
        if (rst || !ld_valid || step == ROWS - 1) step <= {SW{1'b0}};
        else                                       step <= step + 1'b1;
    end

    // ---- stream skew: row k delayed by k cycles -----------------------------------------
    wire [D_W+1:0] s_edge [0:ROWS-1];   // {first, valid, d}

    genvar k, j;
    generate
        for (j = 0; j < COLS; j = j + 1) begin : ld_skew
            wire [SW+S_W:0] y;
            imsim_delay #(.W(SW+S_W+1), .D(j)) line (
                .clk(clk), .rst(rst), .x({ld_valid, step, ld_row[j*S_W +: S_W]}), .y(y));
            assign lv[j]     = y[SW+S_W];
            assign lst[j]    = y[SW+S_W-1:S_W];
            assign ld_top[j] = y[S_W-1:0];
        end
        for (k = 0; k < ROWS; k = k + 1) begin : st_skew
            imsim_delay #(.W(D_W+2), .D(k)) line (
                .clk(clk), .rst(rst), .x({st_first, st_valid, st_col[k*D_W +: D_W]}), .y(s_edge[k]));
        end
    endgenerate

    // ---- PE grid ------------------------------------------------------------------------
    // d_h[k*(COLS+1) + j]: {first, valid, d} entering PE (k, j) from the left;
    // w_v[k*COLS + j]: stationary value PE (k, j) takes in a load step (from above);
    // p_v[k*COLS + j]: partial sum entering PE (k, j) from above (registered in PE (k-1, j)).
    wire [D_W+1:0]   d_h [0:ROWS*(COLS+1)-1];
    wire [S_W-1:0]   w_v [0:(ROWS+1)*COLS-1];
    wire [ACC_W-1:0] p_v [0:(ROWS+1)*COLS-1];

    generate
        for (k = 0; k < ROWS; k = k + 1) begin : row
            assign d_h[k*(COLS+1)] = s_edge[k];
            for (j = 0; j < COLS; j = j + 1) begin : col
                if (k == 0) begin : top
                    assign w_v[j] = ld_top[j];
                    assign p_v[j] = {ACC_W{1'b0}};
                end
                wire [D_W+1:0] din = d_h[k*(COLS+1) + j];
                wire first = din[D_W+1];
                wire load  = lv[j] && (lst[j] >= k);
                reg  [D_W+1:0] d_q;
                reg  [ACC_W-1:0] p_q;
                wire [S_W-1:0] w_use;
                wire signed [D_W-1:0] dv = din[D_W-1:0];
                wire signed [S_W-1:0] wv = w_use;
                wire signed [ACC_W-1:0] prod = dv * wv;
                wire [ACC_W-1:0] psum = p_v[k*COLS + j] + prod;
                if (OVERLAP != 0) begin : double
                    reg [S_W-1:0] w0, w1;
                    reg sel;   // register in use: 0 -> w0, 1 -> w1
                    wire use1 = first ? !sel : sel;
                    assign w_use = use1 ? w1 : w0;
                    assign w_v[(k+1)*COLS + j] = sel ? w0 : w1;   // the inactive one shifts
                    always @(posedge clk) begin
                        if (rst) begin
                            w0 <= {S_W{1'b0}};
                            w1 <= {S_W{1'b0}};
                            sel <= 1'b1;   // the first fold loads into w0
                        end else begin
                            if (first) sel <= !sel;
                            if (load) begin   // into the register not in use after this cycle
                                if (use1) w0 <= w_v[k*COLS + j];
                                else      w1 <= w_v[k*COLS + j];
                            end
                        end
                    end
                end else begin : single
                    reg [S_W-1:0] w0;
                    assign w_use = w0;
                    assign w_v[(k+1)*COLS + j] = w0;
                    always @(posedge clk) begin
                        if (rst) w0 <= {S_W{1'b0}};
                        else if (load) w0 <= w_v[k*COLS + j];
                    end
                end
                always @(posedge clk) begin
                    if (rst) begin
                        d_q <= {(D_W+2){1'b0}};
                        p_q <= {ACC_W{1'b0}};
                    end else begin
                        d_q <= din;
                        p_q <= psum;
                    end
                end
                assign d_h[k*(COLS+1) + j + 1] = d_q;
                assign p_v[(k+1)*COLS + j] = p_q;
                if (k == ROWS - 1) begin : bottom
                    assign out_valid[j] = din[D_W];
                    assign out_data[j*ACC_W +: ACC_W] = psum;
                end
            end
        end
    endgenerate
endmodule
