"""tagstream: real-time multi-label product tagging.

This package holds only the CLI and the small contracts that both sides share (the text the model
reads, its content hash, and the label/threshold file format). The worker lives in `stream`, the
trainer in `trainer`; neither imports the other.
"""

__version__ = "0.1.0"
