"""The synthetic city generator: deterministic from a seed, used by `fangkong demo`, the
tests and the benchmarks. Its data is made up; no real person is in it."""
