"""imsim: a cycle-approximate simulator for low-bit integer GEMM accelerators running IM-Unpack.

Data flow (one module a concept):
trace -> quantize -> unpack -> array (map + cycles) -> memory -> execute (exact values)
-> energy/area -> results -> sweep -> plot; rtl exports golden vectors.
"""
__version__ = "0.1.0"
