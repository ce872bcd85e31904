// imsim reference design: output-stationary systolic array (plain Verilog-2005).
//
// Parameters: ROWS x COLS processing elements (PEs), signed operands of A_W bits
// (A side, enters at the left edge) and B_W bits (B side, enters at the top edge),
// signed accumulators of ACC_W bits (two's complement, wrap on overflow).
//
// One tile computes P = A_t x B_t with A_t (ROWS x K) and B_t (K x COLS), any K >= 1:
//   * Hold in_valid high for exactly K consecutive cycles. In feed cycle k, a_col holds
//     column k of A_t (row i at bits [i*A_W +: A_W]) and b_row holds row k of B_t
//     (column j at bits [j*B_W +: B_W]), both UNSKEWED: the array skews internally,
//     so row i of A reaches the left edge of PE row i in cycle k + i and column j of B
//     reaches the top of PE column j in cycle k + j. PE (i, j) performs its k-th
//     multiply-accumulate in cycle i + j + k.
//   * After the last MAC (cycle ROWS + COLS + K - 3) the accumulators drain down the
//     columns, one row per cycle, bottom row first: out_valid is high for ROWS cycles,
//     c_row holds row out_row of P (column j at bits [j*ACC_W +: ACC_W]).
//   * Counting the cycle of the first feed as cycle 0, the last result row is valid in
//     cycle 2*ROWS + COLS + K - 3, so a tile takes 2*ROWS + COLS + K - 2 cycles from
//     "first operand in" to "last result out" inclusive: fill ROWS + COLS - 2, K, drain
//     ROWS (imsim.array.compute_timing(ROWS, K, COLS, ROWS, COLS, "os", "pipelined") for
//     one fold; see imsim/rtl/cycles.py).
//   * ready is high when the array is idle; a new tile may start in that cycle. The
//     drain shifts zeros in at the top, so the accumulators are clear for the next tile.
//   * ACC_W must exceed A_W and B_W (a product needs A_W + B_W - 1 bits).
`timescale 1ns/1ps
/* verilator lint_off DECLFILENAME */

module imsim_os_pe #(
    parameter A_W   = 8,
    parameter B_W   = 8,
    parameter ACC_W = 32
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire                    drain,   // 1: acc <= acc_in (shift toward the bottom edge)
    input  wire signed [A_W-1:0]   a_in,    // from the left neighbour (or the row skew line)
    input  wire signed [B_W-1:0]   b_in,    // from the upper neighbour (or the column skew line)
    input  wire signed [ACC_W-1:0] acc_in,  // accumulator of the PE above (zero in the top row)
    output reg  signed [A_W-1:0]   a_out,
    output reg  signed [B_W-1:0]   b_out,
    output reg  signed [ACC_W-1:0] acc
);
    // sign extension to the accumulator width (ACC_W > A_W and ACC_W > B_W)
    wire signed [ACC_W-1:0] a_ext = {{(ACC_W-A_W){a_in[A_W-1]}}, a_in};
    wire signed [ACC_W-1:0] b_ext = {{(ACC_W-B_W){b_in[B_W-1]}}, b_in};

    always @(posedge clk) begin
        if (rst) begin
            a_out <= {A_W{1'b0}};
            b_out <= {B_W{1'b0}};
            acc   <= {ACC_W{1'b0}};
        end else begin
            a_out <= a_in;
            b_out <= b_in;
            if (drain)
                acc <= acc_in;
            else
                acc <= acc + a_ext * b_ext;
        end
    end
endmodule

module imsim_systolic_os #(
    parameter ROWS  = 4,
    parameter COLS  = 4,
    parameter A_W   = 8,
    parameter B_W   = 8,
    parameter ACC_W = 32
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  in_valid,
    input  wire [ROWS*A_W-1:0]   a_col,
    input  wire [COLS*B_W-1:0]   b_row,
    output wire                  ready,
    output wire                  out_valid,
    output wire [31:0]           out_row,
    output wire [COLS*ACC_W-1:0] c_row
);
    localparam [31:0] FLUSH = ROWS + COLS - 2;  // cycles from the last feed to the first drain

    // ---- control: one counter from the first feed cycle (t = 0) ----------------
    reg         busy;      // a tile is in flight (t >= 1)
    reg         fed;       // in_valid has fallen: K is known
    reg  [31:0] cnt;       // t of the current cycle while busy
    reg  [31:0] k_reg;     // K, latched when in_valid falls

    wire        start   = !busy && in_valid;
    wire [31:0] t_cur   = busy ? cnt : 32'd0;
    wire        feeding = start || (busy && !fed && in_valid);
    wire        active  = start || busy;
    wire [31:0] k_cur   = fed ? k_reg : t_cur;  // meaningful once feeding has ended
    wire [31:0] d_first = k_cur + FLUSH;        // first drain cycle
    wire        drain   = busy && !feeding && (t_cur >= d_first);
    wire        last    = drain && (t_cur == d_first + ROWS - 1);

    assign ready     = !busy;
    assign out_valid = drain;
    assign out_row   = drain ? (d_first + ROWS - 1 - t_cur) : 32'd0;

    always @(posedge clk) begin
        if (rst) begin
            busy  <= 1'b0;
            fed   <= 1'b0;
            cnt   <= 32'd0;
            k_reg <= 32'd0;
        end else if (active) begin
            if (!feeding && !fed) begin
                fed   <= 1'b1;
                k_reg <= t_cur;
            end
            if (last) begin
                busy <= 1'b0;
                fed  <= 1'b0;
                cnt  <= 32'd0;
            end else begin
                busy <= 1'b1;
                cnt  <= t_cur + 32'd1;
            end
        end
    end

    // ---- skew lines: row i of A delayed by i cycles, column j of B by j cycles -----
    // (nets are arrays of elements, not wide flattened buses: Icarus re-evaluates every
    //  reader of a vector when any bit of it changes)
    wire [A_W-1:0] a_edge [0:ROWS-1];
    wire [B_W-1:0] b_edge [0:COLS-1];

    genvar i, j;
    generate
        for (i = 0; i < ROWS; i = i + 1) begin : a_skew
            wire [A_W-1:0] x = feeding ? a_col[i*A_W +: A_W] : {A_W{1'b0}};
            if (i == 0) begin : direct
                assign a_edge[i] = x;
            end else begin : delayed
                reg [A_W-1:0] d [0:i-1];
                integer s;
                always @(posedge clk) begin
                    if (rst) begin
                        for (s = 0; s < i; s = s + 1) d[s] <= {A_W{1'b0}};
                    end else begin
                        d[0] <= x;
                        for (s = 1; s < i; s = s + 1) d[s] <= d[s-1];
                    end
                end
                assign a_edge[i] = d[i-1];
            end
        end
        for (j = 0; j < COLS; j = j + 1) begin : b_skew
            wire [B_W-1:0] x = feeding ? b_row[j*B_W +: B_W] : {B_W{1'b0}};
            if (j == 0) begin : direct
                assign b_edge[j] = x;
            end else begin : delayed
                reg [B_W-1:0] d [0:j-1];
                integer s;
                always @(posedge clk) begin
                    if (rst) begin
                        for (s = 0; s < j; s = s + 1) d[s] <= {B_W{1'b0}};
                    end else begin
                        d[0] <= x;
                        for (s = 1; s < j; s = s + 1) d[s] <= d[s-1];
                    end
                end
                assign b_edge[j] = d[j-1];
            end
        end
    endgenerate

    // ---- PE grid ----------------------------------------------------------------
    // a_h[i*(COLS+1) + j]: A value entering PE (i, j) from the left (j = COLS: leaves the row);
    // b_v[i*COLS + j]: B value entering PE (i, j) from above (i = ROWS: leaves the column);
    // acc_v[i*COLS + j]: accumulator of PE (i, j).
    wire [A_W-1:0]   a_h   [0:ROWS*(COLS+1)-1];
    wire [B_W-1:0]   b_v   [0:(ROWS+1)*COLS-1];
    wire [ACC_W-1:0] acc_v [0:ROWS*COLS-1];

    generate
        for (i = 0; i < ROWS; i = i + 1) begin : row
            assign a_h[i*(COLS+1)] = a_edge[i];
            for (j = 0; j < COLS; j = j + 1) begin : col
                if (i == 0) begin : top
                    assign b_v[j] = b_edge[j];
                end
                wire [ACC_W-1:0] acc_above;
                if (i == 0) begin : zero_in
                    assign acc_above = {ACC_W{1'b0}};
                end else begin : from_above
                    assign acc_above = acc_v[(i-1)*COLS + j];
                end
                imsim_os_pe #(.A_W(A_W), .B_W(B_W), .ACC_W(ACC_W)) pe (
                    .clk   (clk),
                    .rst   (rst),
                    .drain (drain),
                    .a_in  (a_h[i*(COLS+1) + j]),
                    .b_in  (b_v[i*COLS + j]),
                    .acc_in(acc_above),
                    .a_out (a_h[i*(COLS+1) + j + 1]),
                    .b_out (b_v[(i+1)*COLS + j]),
                    .acc   (acc_v[i*COLS + j])
                );
            end
        end
        for (j = 0; j < COLS; j = j + 1) begin : out
            assign c_row[j*ACC_W +: ACC_W] = acc_v[(ROWS-1)*COLS + j];
        end
    endgenerate
endmodule
