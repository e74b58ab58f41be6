"""Names that are not UTF-8 (issue 11, item 3): escaped losslessly wherever a record holds them."""

from __future__ import annotations

import json
import os

from harness.store.record import as_json, escape_name, escape_strings, recorded_path


def test_valid_text_is_kept_as_it_is():
    assert escape_name("résumé ✓.tflite") == "résumé ✓.tflite"
    assert escape_name("plain.tflite") == "plain.tflite"


def test_odd_bytes_become_escapes_and_come_back(tmp_path):
    raw = b"m-\xff\xe9.tflite"
    name = os.fsdecode(raw)  # how Python hands such a name over: lone surrogates
    escaped = escape_name(name)
    assert escaped == "m-\\xff\\xe9.tflite"
    escaped.encode("utf-8")  # a record can hold it
    path = os.path.join(os.fsencode(tmp_path), raw)
    open(path, "wb").close()
    assert os.fsencode(recorded_path(str(tmp_path) + "/" + escaped)) == path


def test_a_record_with_odd_text_anywhere_is_written_escaped():
    from pydantic import BaseModel

    class Note(BaseModel):
        notes: list[str]
        extra: dict

    m = Note(notes=["device said " + os.fsdecode(b"\xfe")], extra={os.fsdecode(b"k\xff"): 1})
    data = json.loads(as_json(m))
    assert data == {"notes": ["device said \\xfe"], "extra": {"k\\xff": 1}}
    assert escape_strings([os.fsdecode(b"\x80"), 3]) == ["\\x80", 3]
