"""Hubbub's benchmark (``bench/run.py``): a load generator, the servers it measures, its phases and reports."""
