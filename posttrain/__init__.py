"""posttrain: decide how to adapt a language model, then prove it with a fair experiment.

The public Python API lives in the area packages: ``advisor`` (the recommendation),
``harness`` (the experiment) and ``rag_baseline`` (retrieval). This package holds what they share.
"""

from posttrain.errors import BadInput, CheckFailed, PosttrainError

__version__ = "0.1.0"

__all__ = ["BadInput", "CheckFailed", "PosttrainError", "__version__"]
