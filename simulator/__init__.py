"""The simulated GPU cluster: a separate small HTTP app that speaks docs/gpu-cluster-api.md."""
