"""Ingest: saved tool logs as run records.

`harness.ingest.base.IngestFormat` is the plugin interface (entry-point group
``harness.ingest``); `harness.ingest.files.ingest_file` reads a log with a format and writes
its records. Built-in formats: ``benchmark_model``, ``trtexec``, ``onnxruntime_perf_test`` and
``mlperf_tiny`` (one module each in this package).
"""
