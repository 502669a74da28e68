"""The package's version: one place, read by the API face and the manifest."""

__version__ = "0.1.0"
