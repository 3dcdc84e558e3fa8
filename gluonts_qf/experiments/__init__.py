"""Experiments: datasets, configs, runs and paper tables."""
