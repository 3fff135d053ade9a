"""The GPU cluster contract in code: typed status reports, their validation, and signatures.

Shared by both ends (the processor and callback API, the simulator, the trainer), so it imports
nothing of the product but the catalogues. The prose contract is docs/gpu-cluster-api.md.
"""
