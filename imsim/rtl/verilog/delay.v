// imsim reference design: a D-cycle delay line of W-bit values (D = 0: a wire). The arrays'
// input skew: row i of the left-edge operand is delayed by i cycles, column j of the top-edge
// operand by j cycles (plain Verilog-2005; synchronous reset).
`timescale 1ns/1ps
/* verilator lint_off DECLFILENAME */

module imsim_delay #(
    parameter W = 8,
    parameter D = 1
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] x,
    output wire [W-1:0] y
);
    generate
        if (D == 0) begin : direct
            assign y = x;
        end else begin : delayed
            reg [W-1:0] d [0:D-1];
            integer s;
            always @(posedge clk) begin
                if (rst) begin
                    for (s = 0; s < D; s = s + 1) d[s] <= {W{1'b0}};
                end else begin
                    d[0] <= x;
                    for (s = 1; s < D; s = s + 1) d[s] <= d[s-1];
                end
            end
            assign y = d[D-1];
        end
    endgenerate
endmodule
