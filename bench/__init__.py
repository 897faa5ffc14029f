"""Benchmarks for issue 7: the engine against honest baselines, side by side in one run (`make bench`)."""
