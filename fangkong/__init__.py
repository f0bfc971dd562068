"""fangkong (防控): community prevention and care."""

__version__ = "0.1.0"
