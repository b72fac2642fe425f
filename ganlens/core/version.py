"""The version of ganlens (recorded in every JSON and checkpoint)."""

__version__ = "0.1.0"
