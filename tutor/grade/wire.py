"""Plain data between the grading process and a sandboxed worker: never pickle.

A message is one frame: a 4-byte length, a JSON header, then the binary blobs the header lists.
Arrays travel as `.npy` bytes read back with `allow_pickle=False`; everything else is JSON with a
small vocabulary of tagged objects (`{"$": "nd", "b": 0}`). Both sides check sizes and types, so
a frame a submission forges or garbles is refused, never obeyed.
"""

from __future__ import annotations

import io
import json
import math
import struct
from typing import Any

import numpy as np

MAX_HEADER = 8 << 20
MAX_BLOBS = 256 << 20
MAX_DEPTH = 32
MAX_ITEMS = 1 << 20


class WireError(Exception):
    """A frame that is not well formed: a broken or hostile peer."""


class Opaque:
    """Stands in the grading process for an object the worker could not send as data.

    It is nothing but its type's name: no equality tricks, no array interface, no code."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name} object>"


def opaque(type_name: str) -> Any:
    """An instance of a fresh, empty class named like the learner's (`a Foo object`)."""
    name = "".join(c for c in str(type_name) if c.isalnum() or c == "_")[:60] or "object"
    return type(name, (Opaque,), {})(name)


# ---------------------------------------------------------------------------------------------
# Framing


def send(sock, header: dict, blobs: list[bytes] = ()) -> None:
    header = dict(header, blobs=[len(b) for b in blobs])
    head = json.dumps(header, allow_nan=True).encode()
    total = 4 + len(head) + sum(len(b) for b in blobs)
    sock.sendall(b"".join([struct.pack("!II", total, len(head)), head, *blobs]))


def _read(sock, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the peer closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def receive(sock) -> tuple[dict, list[bytes]]:
    total, head_len = struct.unpack("!II", _read(sock, 8))
    if head_len > MAX_HEADER or total > MAX_HEADER + MAX_BLOBS or head_len + 4 > total:
        raise WireError("a frame larger than the limits")
    head = _read(sock, head_len)
    try:
        header = json.loads(head)
    except ValueError as e:
        raise WireError(f"a header that is not JSON ({e})") from None
    if not isinstance(header, dict) or not isinstance(header.get("blobs", []), list):
        raise WireError("a header that is not an object")
    sizes = header.pop("blobs", [])
    if not all(isinstance(s, int) and s >= 0 for s in sizes) or \
            sum(sizes) != total - 4 - head_len:
        raise WireError("blob sizes that do not add up")
    return header, [_read(sock, s) for s in sizes]


# ---------------------------------------------------------------------------------------------
# Values


def _npy(a: np.ndarray) -> bytes:
    """The `.npy` bytes of `a` (format 1.0, what np.save writes), without np.save's overhead."""
    if not a.flags.c_contiguous:
        a = a.copy(order="C")
    descr = np.lib.format.dtype_to_descr(a.dtype)
    header = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {a.shape!r}, }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + \
        a.tobytes()


def load_npy(b: bytes) -> np.ndarray:
    return np.load(io.BytesIO(b), allow_pickle=False)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


class Encoder:
    """Turns a value into JSON plus blobs. `strict` (the grading side) refuses what it cannot
    send; the worker side sends it as an opaque type name instead."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.blobs: list[bytes] = []
        self.size = 0

    def blob(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > MAX_BLOBS:
            raise WireError("more than the size limit of data")
        self.blobs.append(data)
        return len(self.blobs) - 1

    def encode(self, x: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return self._other(x, "nested too deeply")
        t = type(x)
        if x is None or t is bool or t is str:
            return x
        if t is int:
            return x if abs(x) < 1 << 63 else {"$": "bigint", "v": str(x)}
        if t is float:
            return x if math.isfinite(x) else {"$": "float", "v": repr(x)}
        if t is complex:
            return {"$": "complex", "re": x.real, "im": x.imag}
        if t in (list, tuple):
            if len(x) > MAX_ITEMS:
                return self._other(x, "too long")
            return {"$": t.__name__, "items": [self.encode(v, depth + 1) for v in x]}
        if t is dict:
            return {"$": "dict", "items": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                           for k, v in list(x.items())[:MAX_ITEMS]]}
        if isinstance(x, np.ndarray):
            a = np.asarray(x).view(np.ndarray)
            if a.dtype.kind not in "biufc":
                return self._other(x, "not numbers")
            return {"$": "nd", "b": self.blob(_npy(a)), "readonly": not a.flags.writeable}
        if isinstance(x, np.generic) and np.asarray(x).dtype.kind in "biufc":
            return {"$": "npscalar", "b": self.blob(_npy(np.asarray(x)))}
        if isinstance(x, np.random.Generator):
            return {"$": "rng", "state": x.bit_generator.state,
                    "seed": getattr(x, "seed", None) if type(getattr(x, "seed", None)) is int
                    else None}
        if isinstance(x, np.dtype):
            return {"$": "npdtype", "name": x.name}
        if isinstance(x, type) and issubclass(x, np.generic):
            return {"$": "nptype", "name": x.__name__}
        if _is_torch(x):
            import torch

            if isinstance(x, torch.dtype):
                return {"$": "torchdtype", "name": str(x).removeprefix("torch.")}
            if isinstance(x, torch.Tensor):
                t_ = x.detach().cpu()
                dtype = str(t_.dtype).removeprefix("torch.")
                if dtype == "bfloat16":
                    t_ = t_.float()
                return {"$": "torch", "b": self.blob(_npy(t_.numpy())), "dtype": dtype,
                        "requires_grad": bool(x.requires_grad)}
        if not self.strict and hasattr(t, "__array__"):
            try:
                a = np.asarray(x)
                if a.dtype.kind in "biufc":
                    return {"$": "nd", "b": self.blob(_npy(a)), "readonly": False}
            except Exception:
                pass
        if hasattr(x, "__next__") and hasattr(x, "__iter__") and self.strict:
            return {"$": "iter", "items": [self.encode(v, depth + 1) for v in x]}
        return self._other(x, "not plain data")

    def _other(self, x: Any, why: str) -> Any:
        if self.strict:
            raise WireError(f"cannot send {type(x).__name__}: {why}")
        try:
            name = type(x).__name__
        except Exception:
            name = "object"
        return {"$": "opaque", "type": str(name)[:60]}


def encode(x: Any, strict: bool) -> tuple[Any, list[bytes]]:
    e = Encoder(strict)
    return e.encode(x), e.blobs


class Decoder:
    """Rebuilds values from JSON plus blobs. Only the tags above are accepted."""

    def __init__(self, blobs: list[bytes]):
        self.blobs = blobs
        self.items = 0

    def blob(self, i: Any) -> bytes:
        if type(i) is not int or not 0 <= i < len(self.blobs):
            raise WireError("a reference to a missing blob")
        return self.blobs[i]

    def decode(self, x: Any, depth: int = 0) -> Any:
        self.items += 1
        if depth > MAX_DEPTH + 2 or self.items > 4 * MAX_ITEMS:
            raise WireError("a value nested too deeply or too large")
        if x is None or type(x) in (bool, int, float, str):
            return x
        if type(x) is not dict or not isinstance(x.get("$"), str):
            raise WireError("an unknown value")
        tag = x["$"]
        if tag in ("list", "tuple", "iter"):
            items = [self.decode(v, depth + 1) for v in self._list(x.get("items"))]
            return tuple(items) if tag == "tuple" else iter(items) if tag == "iter" else items
        if tag == "dict":
            out = {}
            for pair in self._list(x.get("items")):
                k, v = self._list(pair)
                k = self.decode(k, depth + 1)
                try:
                    out[k] = self.decode(v, depth + 1)
                except TypeError:
                    raise WireError("a dict key that cannot be a key") from None
            return out
        if tag == "bigint":
            return int(str(x.get("v"))[:5000])
        if tag == "float":
            return float(str(x.get("v")))
        if tag == "complex":
            return complex(float(x.get("re")), float(x.get("im")))
        if tag in ("nd", "npscalar"):
            a = self._array(x.get("b"))
            if tag == "npscalar":
                return a[()] if a.shape == () else a
            if x.get("readonly"):
                a.flags.writeable = False
            return a
        if tag == "rng":
            return rebuild_generator(x.get("state"))
        if tag == "npdtype":
            return np.dtype(_dtype_name(x.get("name")))
        if tag == "nptype":
            return np.dtype(_dtype_name(x.get("name"))).type
        if tag == "torchdtype":
            import torch

            return getattr(torch, _dtype_name(x.get("name")))
        if tag == "torch":
            import torch

            a = self._array(x.get("b"))
            t = torch.from_numpy(a.copy())
            if x.get("dtype") == "bfloat16":
                t = t.to(torch.bfloat16)
            return t.requires_grad_(bool(x.get("requires_grad"))) if t.is_floating_point() \
                else t
        if tag == "opaque":
            return opaque(x.get("type"))
        raise WireError(f"an unknown tag {tag!r}")

    def _array(self, i: Any) -> np.ndarray:
        try:
            a = load_npy(self.blob(i))
        except (ValueError, OSError, EOFError) as e:
            raise WireError(f"an array that does not load ({e})") from None
        if a.dtype.kind not in "biufc":
            raise WireError("an array that is not numbers")
        return a

    @staticmethod
    def _list(v: Any) -> list:
        if type(v) is not list:
            raise WireError("a list was expected")
        return v


_DTYPES = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64",
           "uint8", "uint16", "uint32", "uint64", "bool", "bool_", "complex64", "complex128",
           "half", "single", "double", "longdouble", "float128"}


def _dtype_name(name: Any) -> str:
    if not isinstance(name, str) or name not in _DTYPES:
        raise WireError(f"an unknown dtype {name!r}")
    return name


def rebuild_generator(state: Any) -> np.random.Generator:
    """A numpy Generator in exactly the state given (its bit generator's state as JSON)."""
    if not isinstance(state, dict) or state.get("bit_generator") not in (
            "PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
        raise WireError("an unknown generator state")
    bit = getattr(np.random, state["bit_generator"])()
    try:
        bit.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise WireError(f"a generator state that does not load ({e})") from None
    return np.random.Generator(bit)


def decode(x: Any, blobs: list[bytes]) -> Any:
    return Decoder(blobs).decode(x)
