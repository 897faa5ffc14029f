"""Agreements: the YAML schema, the loader that checks a file, its fast path, and the shipped catalogue."""
