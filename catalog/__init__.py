"""The catalogues: one module per concept (GPU types, metrics, base models) that the rest derives from."""
