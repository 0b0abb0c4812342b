"""retail-lake: the shared domain logic of the lake (contracts, transforms, privacy, the local twin)."""

__version__ = "0.1.0"
