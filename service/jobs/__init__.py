"""Batch jobs over HTTP: submitted to the store, run by a runner in each server process.

:mod:`service.jobs.runner` claims queued jobs and runs each in a child process
(:mod:`service.jobs.work`) so that a long run never holds the server's event loop;
:mod:`service.routes.jobs` is the HTTP face.
"""
