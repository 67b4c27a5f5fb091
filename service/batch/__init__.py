"""Batch risk runs: a book file priced chunk by chunk under a scenario set and its sweeps.

``fxscen batch`` and ``POST /v1/jobs`` both call :func:`service.batch.run.run_batch`.
"""
