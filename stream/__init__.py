"""The streaming worker: Faust app, Redis cache, Triton client, publishing, metrics and health.

Knows nothing of training."""
