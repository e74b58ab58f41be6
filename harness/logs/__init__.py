"""Parsers of what benchmarking tools print (trtexec, onnxruntime_perf_test, MLPerf Tiny
results, llama.cpp, ExecuTorch …): pure functions from text to typed results, in SI units.

They know nothing of devices, transports or the store; runners and ingest formats call them.
The rule for every parser: recognise what you know, count and keep the lines you don't,
and refuse a file only when the figures that define its format are absent, saying which.
"""
