"""Phases: each measures one figure against one freshly started server of one system, and
returns a JSON-able dict of results. ``bench/run.py`` runs them, alone or alternately per system."""
