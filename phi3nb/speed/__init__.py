"""How fast on this machine: tune (pick a runtime config), profile (where a token's time goes), the plot, and the
CPU facts every figure names. measurements/ holds the bench runs that every figure a reader sees comes from."""
