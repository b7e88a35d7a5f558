"""The fake `container` CLI's parts; `../container` is the program (see its docstring)."""
