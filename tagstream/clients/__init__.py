"""Programs that talk to a running system from outside the worker: send product updates
(`producer`), read tag events (`subscriber`), and load a new model version into Triton (`publish`)."""
