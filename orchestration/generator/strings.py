"""Vectorised string building on pyarrow arrays: JSON text of Python values, element-wise concatenation,
lookups in small tables of pre-rendered fragments, and event ids written straight into a byte matrix."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NULL_STRING = pa.scalar(None, pa.string())
HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE_SHIFTS = np.arange(
    60, -4, -4, dtype=np.uint64
)  # the 16 hex digits of a uint64, most significant first


def json_text(obj: object) -> str:
    """Compact JSON (no spaces, UTF-8 kept), as every generated line writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def string_scalar(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.string())


def concat(*parts, null_as_empty: bool = False) -> pa.Array:
    """Concatenate string arrays/scalars element-wise (null propagates unless null_as_empty)."""
    parts = [string_scalar(p) if isinstance(p, str) else p for p in parts]
    if null_as_empty:
        return pc.binary_join_element_wise(
            *parts, string_scalar(""), null_handling="replace", null_replacement=""
        )
    return pc.binary_join_element_wise(*parts, string_scalar(""))


def take(table: pa.Array, idx: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    """``table[idx]``, null where ``null_mask``."""
    return pc.take(table, pa.array(idx, mask=null_mask))


def where(mask: np.ndarray, a, b) -> pa.Array:
    """``a`` where ``mask``, else ``b`` (arrays, scalars, Python strings or None)."""
    if not isinstance(a, (pa.Array, pa.ChunkedArray, pa.Scalar)):
        a = string_scalar(a) if a is not None else NULL_STRING
    if not isinstance(b, (pa.Array, pa.ChunkedArray, pa.Scalar)):
        b = string_scalar(b) if b is not None else NULL_STRING
    return pc.if_else(pa.array(mask, type=pa.bool_()), a, b)


def string_array(values: list[str | None]) -> pa.Array:
    return pa.array(values, type=pa.string())


def fixed_width_strings(data: np.ndarray) -> pa.Array:
    """(n, w) uint8 matrix -> StringArray of n strings of width w (zero-copy friendly)."""
    n, w = data.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data)))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64 (so distinct inputs give distinct ids)."""
    z = x.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def hex_event_ids(src: np.ndarray, salt: int, prefix: bytes, suffix: bytes = b"") -> pa.Array:
    """prefix + 'evt_' + 16 hex digits + suffix for each base row index (unique per index)."""
    z = mix64(src.astype(np.uint64) + np.uint64(salt))
    nibbles = ((z[:, None] >> _NIBBLE_SHIFTS[None, :]) & np.uint64(15)).astype(np.uint8)
    head = np.frombuffer(prefix + b"evt_", dtype=np.uint8)
    tail = np.frombuffer(suffix, dtype=np.uint8)
    mat = np.empty((len(src), len(head) + 16 + len(tail)), dtype=np.uint8)
    mat[:, : len(head)] = head
    mat[:, len(head) : len(head) + 16] = HEX_DIGITS[nibbles]
    if len(tail):
        mat[:, len(head) + 16 :] = tail
    return fixed_width_strings(mat)
