// imsim testbench for the reference arrays (plain Verilog-2005, run in the export folder).
//
// Reads the golden operands written by `imsim rtl export` with $readmemh:
//   a.hex     M x K   A-side low-bit operands (A_W bits, row-major)
//   b.hex     K x N   B-side low-bit operands (B_W bits, row-major)
//   jobs.hex  NJOB x 7 words (32 bits): pass, m0, m1, k0, k1, n0, n1
// Each job is one whole GEMM A[m0:m1, k0:k1] @ B[k0:k1, n0:n1] run on the array with all its
// folds (column folds outer, row folds inner) and the array's fold overlap; jobs run one after
// the other. Results of job j add into psum[pass] (the accumulator buffer below the array);
// they are written to results.hex (NPASS x M x N, ACC_W bits, row-major) with $writememh.
//
// DATAFLOW: 0 = os (imsim_array_os), 1 = ws, 2 = is (imsim_array_stat).
// OVERLAP:  1 = `pipelined` (a fold starts every max(T, ROWS) cycles),
//           0 = `scalesim` (no overlap: every 2 ROWS + COLS + T - 2 cycles for ws/is,
//               ROWS + COLS + T - 2 for os).
// A watchdog ends a job that does not deliver all its results (IMSIM_WARN).
// Per job it prints IMSIM_JOB job=<j> first=<cycle of the first operand in> last=<cycle of
// the last result out>, and at the end IMSIM_DONE jobs=<NJOB>.
`timescale 1ns/1ps

module tb_imsim;
    parameter DATAFLOW = 0;
    parameter OVERLAP  = 1;
    parameter ROWS  = 4;
    parameter COLS  = 4;
    parameter A_W   = 8;
    parameter B_W   = 8;
    parameter ACC_W = 32;
    parameter M     = 4;   // rows of the low-bit A (M')
    parameter K     = 4;   // reduction length of the low-bit GEMM (K')
    parameter N     = 4;   // columns of the low-bit B (N')
    parameter NPASS = 1;
    parameter NJOB  = 1;

    localparam S_W = (DATAFLOW == 1) ? B_W : A_W;   // stationary operand (ws: B, is: A)
    localparam D_W = (DATAFLOW == 1) ? A_W : B_W;   // streamed operand

    reg clk = 1'b0;
    reg rst = 1'b1;
    always #5 clk = ~clk;

    // os ports
    reg                        in_first = 1'b0, in_last = 1'b0;
    reg  [ROWS*A_W-1:0]        a_col = {ROWS*A_W{1'b0}};
    reg  [COLS*B_W-1:0]        b_row = {COLS*B_W{1'b0}};
    wire [ROWS*COLS-1:0]       pe_valid;
    wire [ROWS*COLS*ACC_W-1:0] pe_data;
    // ws/is ports
    reg                        ld_valid = 1'b0, st_valid = 1'b0, st_first = 1'b0;
    reg  [COLS*S_W-1:0]        ld_row = {COLS*S_W{1'b0}};
    reg  [ROWS*D_W-1:0]        st_col = {ROWS*D_W{1'b0}};
    // feeder scratch (a bus is assigned once per cycle: every reader of a vector is
    // re-evaluated whenever any of its bits changes)
    reg  [ROWS*A_W-1:0]        a_nxt;
    reg  [COLS*B_W-1:0]        b_nxt;
    reg  [COLS*S_W-1:0]        ld_nxt;
    reg  [ROWS*D_W-1:0]        st_nxt;
    // shared
    wire [COLS-1:0]            out_valid;
    wire [COLS*ACC_W-1:0]      out_data;

    generate
        if (DATAFLOW == 0) begin : os
            imsim_array_os #(.ROWS(ROWS), .COLS(COLS), .A_W(A_W), .B_W(B_W), .ACC_W(ACC_W),
                             .OVERLAP(OVERLAP)) dut (
                .clk(clk), .rst(rst), .in_first(in_first), .in_last(in_last), .a_col(a_col),
                .b_row(b_row), .out_valid(out_valid), .out_data(out_data), .pe_valid(pe_valid),
                .pe_data(pe_data));
        end else begin : stat
            imsim_array_stat #(.ROWS(ROWS), .COLS(COLS), .S_W(S_W), .D_W(D_W), .ACC_W(ACC_W),
                               .OVERLAP(OVERLAP)) dut (
                .clk(clk), .rst(rst), .ld_valid(ld_valid), .ld_row(ld_row), .st_valid(st_valid),
                .st_first(st_first), .st_col(st_col), .out_valid(out_valid), .out_data(out_data));
            assign pe_valid = {ROWS*COLS{1'b0}};
            assign pe_data = {ROWS*COLS*ACC_W{1'b0}};
        end
    endgenerate

    reg [A_W-1:0]   a_mem   [0:M*K-1];
    reg [B_W-1:0]   b_mem   [0:K*N-1];
    reg [31:0]      job_mem [0:7*NJOB-1];
    reg [ACC_W-1:0] res_mem [0:NPASS*M*N-1];

    // geometry of the current job (set before its first cycle)
    integer pass = 0, m0 = 0, k0 = 0, n0 = 0, sr = 1, sc = 1, tt = 1;
    integer rfolds = 1, folds = 1, period = 1, want = 0, limit = 0;
    integer got = 0, last_out = 0;

    integer cyc = 0;
    integer cnt [0:ROWS*COLS-1];   // results seen per column (per PE for os without overlap)

    // ---- sample the outputs at the rising edge that ends each cycle -----------------------
    integer q = 0, f = 0, r = 0, c = 0, x = 0, idx = 0;
    always @(posedge clk) begin
        if (!rst) begin
            if (DATAFLOW == 0 && OVERLAP == 0) begin
                if (|pe_valid) begin
                    for (q = 0; q < ROWS*COLS; q = q + 1) begin
                        if (pe_valid[q]) begin
                            f = cnt[q];
                            cnt[q] = cnt[q] + 1;
                            r = (f % rfolds) * ROWS + q / COLS;
                            c = (f / rfolds) * COLS + q % COLS;
                            if (r < sr && c < sc) begin
                                idx = (pass*M + m0 + r)*N + n0 + c;
                                res_mem[idx] = pe_data[q*ACC_W +: ACC_W];
                            end
                            got = got + 1;
                            last_out = cyc;
                        end
                    end
                end
            end else if (|out_valid) begin
                for (q = 0; q < COLS; q = q + 1) begin
                    if (out_valid[q]) begin
                        x = cnt[q];
                        cnt[q] = cnt[q] + 1;
                        if (DATAFLOW == 0) begin   // os: ROWS results per fold, bottom row first
                            f = x / ROWS;
                            r = (f % rfolds) * ROWS + ROWS - 1 - x % ROWS;
                            c = (f / rfolds) * COLS + q;
                            if (r < sr && c < sc) begin
                                idx = (pass*M + m0 + r)*N + n0 + c;
                                res_mem[idx] = out_data[q*ACC_W +: ACC_W];
                            end
                        end else begin             // ws/is: tt results per fold, K folds add up
                            f = x / tt;
                            c = (f / rfolds) * COLS + q;
                            if (c < sc) begin
                                if (DATAFLOW == 1)
                                    idx = (pass*M + m0 + x % tt)*N + n0 + c;
                                else
                                    idx = (pass*M + m0 + c)*N + n0 + x % tt;
                                res_mem[idx] = res_mem[idx] + out_data[q*ACC_W +: ACC_W];
                            end
                        end
                        got = got + 1;
                        last_out = cyc;
                    end
                end
            end
            cyc = cyc + 1;
        end
    end

    // ---- drive one job cycle by cycle (inputs change on the falling edge) ------------------
    integer job = 0, t = 0, first_in = 0, i = 0, j = 0, fr = 0, fc = 0, kk = 0, m = 0;
    initial begin
        $readmemh("a.hex", a_mem);
        $readmemh("b.hex", b_mem);
        $readmemh("jobs.hex", job_mem);
        for (idx = 0; idx < NPASS*M*N; idx = idx + 1) res_mem[idx] = {ACC_W{1'b0}};
        repeat (2) @(negedge clk);
        rst = 1'b0;
        for (job = 0; job < NJOB; job = job + 1) begin
            pass = job_mem[7*job];
            m0 = job_mem[7*job+1];
            k0 = job_mem[7*job+3];
            n0 = job_mem[7*job+5];
            if (DATAFLOW == 0) begin
                sr = job_mem[7*job+2] - m0; sc = job_mem[7*job+6] - n0; tt = job_mem[7*job+4] - k0;
            end else if (DATAFLOW == 1) begin
                sr = job_mem[7*job+4] - k0; sc = job_mem[7*job+6] - n0; tt = job_mem[7*job+2] - m0;
            end else begin
                sr = job_mem[7*job+4] - k0; sc = job_mem[7*job+2] - m0; tt = job_mem[7*job+6] - n0;
            end
            rfolds = (sr + ROWS - 1) / ROWS;
            folds = rfolds * ((sc + COLS - 1) / COLS);
            if (OVERLAP != 0)
                period = (tt > ROWS) ? tt : ROWS;
            else
                period = (DATAFLOW == 0) ? ROWS + COLS + tt - 2 : 2*ROWS + COLS + tt - 2;
            want = (DATAFLOW == 0) ? folds * ROWS * COLS : folds * tt * COLS;
            for (q = 0; q < ROWS*COLS; q = q + 1) cnt[q] = 0;
            got = 0;
            first_in = cyc;
            limit = folds * (period + 2*ROWS + COLS + tt) + 64;   // watchdog (broken RTL)
            for (t = 0; got < want && t < limit; t = t + 1) begin
                if (DATAFLOW == 0) begin
                    f = t / period; kk = t % period;
                    if (f < folds && kk < tt) begin
                        fr = f % rfolds; fc = f / rfolds;
                        for (i = 0; i < ROWS; i = i + 1)
                            a_nxt[i*A_W +: A_W] = (fr*ROWS + i < sr) ? a_mem[(m0 + fr*ROWS + i)*K + k0 + kk] : {A_W{1'b0}};
                        for (j = 0; j < COLS; j = j + 1)
                            b_nxt[j*B_W +: B_W] = (fc*COLS + j < sc) ? b_mem[(k0 + kk)*N + n0 + fc*COLS + j] : {B_W{1'b0}};
                        a_col = a_nxt;
                        b_row = b_nxt;
                        in_first = (kk == 0);
                        in_last = (kk == tt - 1);
                    end else begin
                        a_col = {ROWS*A_W{1'b0}};
                        b_row = {COLS*B_W{1'b0}};
                        in_first = 1'b0;
                        in_last = 1'b0;
                    end
                end else begin
                    // load port: step r of fold f in cycle f*period + r
                    f = t / period; r = t % period;
                    if (f < folds && r < ROWS) begin
                        fr = f % rfolds; fc = f / rfolds;
                        kk = fr*ROWS + ROWS - 1 - r;    // array row loaded in this step
                        for (j = 0; j < COLS; j = j + 1) begin
                            if (kk < sr && fc*COLS + j < sc)
                                ld_nxt[j*S_W +: S_W] = (DATAFLOW == 1) ? b_mem[(k0 + kk)*N + n0 + fc*COLS + j]
                                                                       : a_mem[(m0 + fc*COLS + j)*K + k0 + kk];
                            else
                                ld_nxt[j*S_W +: S_W] = {S_W{1'b0}};
                        end
                        ld_row = ld_nxt;
                        ld_valid = 1'b1;
                    end else begin
                        ld_row = {COLS*S_W{1'b0}};
                        ld_valid = 1'b0;
                    end
                    // stream port: element m of fold f in cycle f*period + ROWS + m
                    f = (t - ROWS) / period; m = (t - ROWS) % period;
                    if (t >= ROWS && f < folds && m < tt) begin
                        fr = f % rfolds;
                        for (i = 0; i < ROWS; i = i + 1) begin
                            kk = fr*ROWS + i;
                            if (kk < sr)
                                st_nxt[i*D_W +: D_W] = (DATAFLOW == 1) ? a_mem[(m0 + m)*K + k0 + kk]
                                                                       : b_mem[(k0 + kk)*N + n0 + m];
                            else
                                st_nxt[i*D_W +: D_W] = {D_W{1'b0}};
                        end
                        st_col = st_nxt;
                        st_valid = 1'b1;
                        st_first = (m == 0);
                    end else begin
                        st_col = {ROWS*D_W{1'b0}};
                        st_valid = 1'b0;
                        st_first = 1'b0;
                    end
                end
                @(negedge clk);
            end
            if (got < want)
                $display("IMSIM_WARN job=%0d: only %0d of %0d results after %0d cycles", job, got, want, t);
            $display("IMSIM_JOB job=%0d first=%0d last=%0d", job, first_in, last_out);
        end
        $writememh("results.hex", res_mem);
        $display("IMSIM_DONE jobs=%0d", NJOB);
        $finish;
    end
endmodule
