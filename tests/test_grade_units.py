"""The grader's small parts, without running a notebook: the wire format, CSV cells, shards,
reading zips and finding a notebook's chapter."""

from __future__ import annotations

import io
import json
import socket
import struct
import zipfile

import numpy as np
import pytest

from tutor.grade import gradebook, submissions, wire
from tutor.grade.cli import problems_by_chapter


def roundtrip(x, strict=True):
    encoded, blobs = wire.encode(x, strict=strict)
    return wire.decode(json.loads(json.dumps(encoded)), blobs)


@pytest.mark.parametrize("value", [
    np.arange(6.0).reshape(2, 3), np.array([1, 2], dtype=np.int64), np.float32(2.5),
    np.zeros((0, 3), np.float16), np.array(True), [1.0, 2, "x", None], (3, 4.5),
    {"a": [1, 2]}, float("nan"), float("-inf"), 2**80, 1 + 2j,
])
def test_values_cross_the_wire_unchanged(value):
    back = roundtrip(value)
    if isinstance(value, np.ndarray | np.generic):
        assert type(back) is type(value) and back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, float) and value != value:
        assert back != back
    else:
        assert back == value and type(back) is type(value)


def test_a_generator_crosses_in_its_exact_state():
    rng = np.random.default_rng(7)
    rng.random(3)
    back = roundtrip(rng)
    assert back.random() == rng.random()


def test_dtypes_cross_as_tokens():
    import torch

    assert roundtrip(np.float16) is np.float16
    assert roundtrip(np.dtype("float32")) == np.dtype("float32")
    assert roundtrip(torch.bfloat16) is torch.bfloat16


def test_a_tensor_keeps_its_dtype_and_grad_flag():
    import torch

    t = torch.tensor([1.0, 2.0], dtype=torch.bfloat16, requires_grad=True)
    back = roundtrip(t)
    assert back.dtype == torch.bfloat16 and back.requires_grad


def test_an_odd_object_from_a_worker_becomes_only_its_type_name():
    class Anything:
        def __eq__(self, other):
            return True

    back = roundtrip(Anything(), strict=False)
    assert type(back).__name__ == "Anything" and back != 1 and not (back == back.__class__)
    with pytest.raises(wire.WireError):
        wire.encode(Anything(), strict=True)


@pytest.mark.parametrize("evil", [
    {"$": "nd", "b": 5}, {"$": "pickle", "data": "x"}, {"$": "npdtype", "name": "object"},
    {"$": "rng", "state": {"bit_generator": "os.system"}}, {"$": "opaque"} | {"$": 1},
])
def test_a_forged_value_is_refused(evil):
    with pytest.raises(wire.WireError):
        wire.decode(evil, [])


def test_an_object_array_is_never_unpickled():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError):
        wire.decode({"$": "nd", "b": 0}, [buffer.getvalue()])


def test_a_frame_that_lies_about_its_size_is_refused():
    a, b = socket.socketpair()
    head = b'{"blobs": [100]}'
    a.sendall(struct.pack("!II", 4 + len(head) + 3, len(head)) + head + b"abc")
    with pytest.raises(wire.WireError):
        wire.receive(b)
    a.sendall(struct.pack("!II", 1 << 31, 10))
    with pytest.raises(wire.WireError):
        wire.receive(b)


@pytest.mark.parametrize("text, shown", [("=1+1", "'=1+1"), ("+x", "'+x"), ("-2", "'-2"),
                                         ("@SUM(A1)", "'@SUM(A1)"), ("ada", "ada"), (3, "3")])
def test_csv_cells_that_start_like_formulas_are_quoted(text, shown):
    assert gradebook.safe_cell(text) == shown


def test_shards_depend_only_on_the_name():
    names = [f"learner{i}" for i in range(40)]
    shards = [submissions.shard_of(n, 4) for n in names]
    assert set(shards) == {1, 2, 3, 4}
    assert shards == [submissions.shard_of(n, 4) for n in reversed(names)][::-1]


def test_a_notebooks_chapter_comes_from_its_problems_not_its_name():
    chapters = problems_by_chapter()
    cells = ["import numpy as np", "def log_softmax(z, axis=-1):\n    ...",
             "tutor.check('sequence_log_prob')"]
    assert submissions.chapter_of("homework.ipynb", cells, chapters) == "04_log_softmax"
    assert submissions.chapter_of("02_softmax.ipynb", ["x = 1"], chapters) == "02_softmax"
    assert submissions.chapter_of("notes.ipynb", ["x = 1"], chapters) is None


def test_a_zip_is_read_in_memory_without_escaping_paths_links_or_bombs(tmp_path):
    path = tmp_path / "eve.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("../up.ipynb", "{}")
        link = zipfile.ZipInfo("link.ipynb")
        link.external_attr = 0o120777 << 16
        z.writestr(link, "/etc/passwd")
        z.writestr("big.ipynb", b"0" * (submissions.MAX_NOTEBOOK + 10))
        z.writestr("ok/02_softmax.ipynb", '{"cells": []}')
    learner = submissions.discover(tmp_path)[0]
    assert learner.name == "eve"
    assert [(n.file, n.data is not None) for n in learner.notebooks] == \
        [("big.ipynb", False), ("ok/02_softmax.ipynb", True)]
    assert any("points outside it" in n for n in learner.notes)
    assert any("symbolic link" in n for n in learner.notes)
    assert not (tmp_path.parent / "up.ipynb").exists()


@pytest.mark.parametrize("data, why", [
    (b"", "empty"), (b"{no", "not valid JSON"), (b"[1, 2]", "not a Jupyter notebook"),
])
def test_a_file_that_is_not_a_notebook_says_why(data, why):
    cells, reason = submissions.code_cells(data)
    assert cells is None and why in reason
