"""Regression tools: the scenario suite, explore, golden transcripts, JUnit, the pytest plugin and Dask sweeps."""
