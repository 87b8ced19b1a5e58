"""Compressed-domain learning benchmark: two synthetic recognition tasks built from real photos and
music, classifiers of equal cost on resized inputs and on WaLLoC latents, and their training loop.

``benchmarks/compressed_learning.py`` is the command that runs it; the modules here are its parts.
"""
