"""Schemathesis hooks for warden's API test (tests/api/run.py).

The API document describes pack uploads as `application/wasm` bytes, which a
generator cannot produce meaningfully; uploads get either a real pack (the
built-in packs, from WARDEN_ST_PACKS) or garbage bytes.
"""

import os
import pathlib

import schemathesis
from hypothesis import strategies as st

_PACKS = [
    p.read_bytes()
    for p in sorted(pathlib.Path(os.environ["WARDEN_ST_PACKS"]).glob("*.wasm"))
]
if not _PACKS:
    raise RuntimeError("WARDEN_ST_PACKS holds no .wasm packs")

schemathesis.openapi.media_type(
    "application/wasm",
    st.one_of(st.sampled_from(_PACKS), st.binary(max_size=2048)),
)
