"""Moonserve's trainer: a NumPy network fitted to the two-moons data, written as versioned files."""

__version__ = "0.1.0"
