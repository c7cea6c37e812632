"""How fast on this machine: tune (pick a runtime config), profile (where a token's time goes), the plot, and the
CPU facts every figure names. Its figures come from phi3nb/measurements/."""
