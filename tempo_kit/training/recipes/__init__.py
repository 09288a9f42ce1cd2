"""Built-in training recipes (EDM, CM, CTM, Presto-S, ASE, Presto-L, Presto-LS)."""
