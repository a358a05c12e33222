"""Benchmarks: speed and quality of the key-frame pipeline against frame-by-frame stylization."""

import mvstylizer_common  # noqa: F401  (sets OpenCV's decode limit before anything loads OpenCV)
