"""Reproducible training of the stylizer's shipped weights (`python -m services.stylizer.train`)."""
