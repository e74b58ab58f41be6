"""Model formats: how a model file is recognised, identified and (optionally) analysed.

`ModelFormat` (harness/formats/base.py) is the interface; `registry.detect(path)` finds a
file's format among the registered ones (entry-point group ``harness.formats``).
"""
