"""MNIST's IDX file format, read and written without pickle.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then
``ndim`` big-endian uint32 dimensions, then the array's elements in C order,
big-endian. MNIST and Fashion-MNIST ship their images (``idx3``: n x 28 x 28
uint8) and labels (``idx1``: n uint8) this way, usually gzip-compressed.

:func:`read_idx` checks everything a foreign or damaged file could get wrong
(magic number, dtype code, dimensions, exact length) and raises ``ValueError``
naming the file. :func:`write_idx` writes atomically.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import ArrayLike

from ._files import atomic_write

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

#: IDX dtype code -> big-endian NumPy dtype, as defined by the format.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dtype.kind, dtype.itemsize): code for code, dtype in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw, or gzip-compressed) into a native-endian NumPy array.

    Compression is recognised from the file's first bytes, so a ``.gz`` name
    is not required. Raises ``ValueError`` naming the file when it is not a
    well-formed IDX file, ``FileNotFoundError`` when it does not exist.

    >>> import tempfile, numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> path = write_idx(folder + "/labels-idx1-ubyte.gz", np.array([3, 1, 4], np.uint8))
    >>> read_idx(path)
    array([3, 1, 4], dtype=uint8)
    """
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _parse(raw, path, file_size=os.fstat(raw.fileno()).st_size)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _parse(stream, path, file_size=None)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"read_idx: {path} is not a valid gzip file ({error})") from error


def _parse(stream: BinaryIO, path: Path, file_size: int | None) -> np.ndarray:
    """Read header and payload from ``stream``; ``file_size`` is known for raw files."""
    dtype, shape = _read_header(stream, path)
    header_size = 4 + 4 * len(shape)
    payload_size = math.prod(shape) * dtype.itemsize
    if file_size is not None and file_size != header_size + payload_size:
        raise ValueError(
            f"read_idx: {path} has {file_size} bytes but its header (shape {shape}, "
            f"{dtype.itemsize}-byte {dtype.name}) requires {header_size + payload_size}"
        )
    payload = _read_exactly(stream, payload_size, path, shape)
    if stream.read(1):
        raise ValueError(f"read_idx: {path} has data after the {shape} array its header declares")
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=dtype.itemsize > 1)


def _read_header(stream: BinaryIO, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """Validate the magic number and return (big-endian dtype, shape)."""
    magic = stream.read(4)
    if len(magic) < 4 or magic[:2] != b"\x00\x00":
        raise ValueError(
            f"read_idx: {path} is not an IDX file (magic number {magic.hex() or 'missing'}, "
            "expected 0000<dtype code><ndim>)"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{known:02X}" for known in IDX_DTYPES)
        raise ValueError(
            f"read_idx: {path} has unknown IDX dtype code 0x{code:02X} (known: {known})"
        )
    if ndim == 0:
        raise ValueError(f"read_idx: {path} declares 0 dimensions")
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"read_idx: {path} ends inside its header ({ndim} dimensions declared)")
    shape = tuple(int(size) for size in np.frombuffer(dims, dtype=">u4"))
    return IDX_DTYPES[code], shape


def _read_exactly(stream: BinaryIO, size: int, path: Path, shape: tuple[int, ...]) -> bytearray:
    """Read ``size`` bytes in chunks (a bogus header cannot trigger a huge allocation)."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(_CHUNK, size - len(buffer)))
        if not chunk:
            raise ValueError(
                f"read_idx: {path} is truncated: its header declares shape {shape} "
                f"({size} bytes of data) but only {len(buffer)} bytes follow"
            )
        buffer += chunk
    return buffer


def write_idx(path: str | os.PathLike[str], array: ArrayLike) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    Supported dtypes: uint8, int8, int16, int32, float32, float64 (the IDX
    codes); anything else raises ``TypeError`` rather than silently changing
    the values. The file is written to a temporary file in the same directory
    and renamed into place. Gzip output is byte-for-byte reproducible
    (no timestamp). Returns the path written.

    >>> import tempfile, numpy as np
    >>> path = write_idx(tempfile.mkdtemp() + "/x.idx", np.eye(2, dtype=np.float32))
    >>> read_idx(path).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    path = Path(path)
    data = np.asarray(array)
    code = _CODE_OF_KIND.get((data.dtype.kind, data.dtype.itemsize))
    if code is None:
        names = ", ".join(dtype.newbyteorder("=").name for dtype in IDX_DTYPES.values())
        raise TypeError(f"write_idx: dtype {data.dtype} has no IDX code (supported: {names})")
    if not 1 <= data.ndim <= 255 or any(size >= 2**32 for size in data.shape):
        raise ValueError(f"write_idx: shape {data.shape} cannot be stored in an IDX header")
    header = bytes([0, 0, code, data.ndim]) + np.asarray(data.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(data, dtype=IDX_DTYPES[code]).tobytes()
    with atomic_write(path) as stream:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=stream, mtime=0) as packed:
                packed.write(header + payload)
        else:
            stream.write(header + payload)
    return path
