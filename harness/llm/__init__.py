"""LLMs on devices with llama.cpp (GGUF models).

- `build`: llama-bench and harness's TTFT driver built once per host from the pinned
  llama-cpp-python sdist, cached under ``~/.cache/harness/llama.cpp/<version>/``;
- `driver` (+ ``driver/*.cpp``): the TTFT / per-token latency driver — its command line, its
  JSON-line events and their typed reading (why a driver of our own: see that module);
- `execute`: run llama-bench or the driver over a command transport and parse the output;
- `gguf_model`: what a GGUF file says (architecture, shape, parameters, bytes per weight);
- `costs`: FLOPs and bytes per token for prefill and decode, and the LLM roofline.

The parsers of llama.cpp / ExecuTorch text output live in `harness.logs`.
"""
