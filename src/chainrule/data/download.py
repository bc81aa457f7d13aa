"""Downloading data files, checked against a known SHA-256 before they are kept.

Only the standard library's ``urllib`` is used. A file is streamed into a
temporary file beside its destination while its SHA-256 is computed; it is
renamed into place only when the digest matches, so a cache never holds an
unverified or half-downloaded file.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ._files import atomic_write

__all__ = ["ChecksumError", "DownloadError", "download_file", "sha256_of"]

_CHUNK = 1 << 16
DEFAULT_TIMEOUT = 60.0


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 differs from the known one; the file was not kept."""


class DownloadError(OSError):
    """No mirror could provide a file (network down, file missing on the server, ...)."""


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 digest of a file's bytes.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = path.write_bytes(b"")
    >>> sha256_of(path)[:16]
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    urls: str | Sequence[str],
    destination: str | os.PathLike[str],
    sha256: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Download a file from the first of ``urls`` that works and keep it only if its SHA-256 matches.

    Each URL is tried in turn (mirrors). A mirror that cannot be reached is
    skipped; a mirror that serves different bytes is skipped too, and if no
    mirror serves the right bytes, ``ChecksumError`` (when some mirror served
    wrong bytes) or ``DownloadError`` is raised with every mirror's reason.
    Any URL scheme ``urllib`` knows works, including ``file://``.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "source.bin").write_bytes(b"")
    >>> empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    >>> download_file((folder / "source.bin").as_uri(), folder / "copy.bin", empty).name
    'copy.bin'
    """
    mirrors = [urls] if isinstance(urls, str) else list(urls)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    mismatch = False
    for url in mirrors:
        try:
            _fetch_verified(url, destination, sha256.lower(), timeout)
            return destination
        except ChecksumError as error:
            mismatch = True
            failures.append(str(error))
        except (OSError, urllib.error.URLError, ValueError) as error:
            failures.append(f"{url}: {error}")
    reasons = "; ".join(failures) or "no URL given"
    if mismatch:
        raise ChecksumError(
            f"download_file: no mirror served the expected {destination.name}: {reasons}"
        )
    raise DownloadError(f"download_file: could not download {destination.name}: {reasons}")


def _fetch_verified(url: str, destination: Path, sha256: str, timeout: float) -> None:
    """Stream ``url`` to ``destination`` atomically, raising ChecksumError on a digest mismatch."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(destination) as out:
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ChecksumError(
                f"{url}: SHA-256 {digest.hexdigest()} differs from the expected {sha256}; "
                "the file was discarded"
            )
