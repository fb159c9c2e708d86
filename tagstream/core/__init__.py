"""The contracts that the worker and the trainer share, at the bottom of the layers.

- `text`: the text the model reads and its content hash (the cache key's content part);
- `artifact`: the label and threshold files that travel with every model, and tag decoding;
- `names`: the Triton model name and its tensor names;
- `repository`: the layout of a Triton model repository (integer version directories);
- `errors`: the root of every error tagstream raises on purpose.

Nothing here imports the worker, the trainer or any server client.
"""
