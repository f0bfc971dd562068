"""Benchmarks: `fangkong bench NAME`. Each prints JSON lines (see docs/benchmarks.md)."""
