"""Benchmarks: speed and quality of the key-frame pipeline against frame-by-frame stylization."""
