"""Checking: the source's networks evaluated over shapes (see checker.py)."""

from .checker import Checker
from .diagnostics import did_you_mean, suggest, validate_name
from .naming import RESERVED_NAMES, header_dimensions, snake, walk_sites, walk_statements
from .scope import Frame, NetworkResult, SiteRecord, flat_tensors

__all__ = [
    "RESERVED_NAMES",
    "Checker",
    "Frame",
    "NetworkResult",
    "SiteRecord",
    "did_you_mean",
    "flat_tensors",
    "header_dimensions",
    "snake",
    "suggest",
    "validate_name",
    "walk_sites",
    "walk_statements",
]
