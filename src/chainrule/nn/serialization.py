"""Model files: architecture (JSON) and weights (arrays) in one ``.npz``, loaded without pickle.

Layout of the zip archive NumPy writes:

* ``__chainrule__``: UTF-8 JSON as a uint8 array: ``{"format", "version",
  "model" (architecture), "parameters" (names), "compile" (loss, optimizer,
  metrics), "optimizer" (iterations, lr), "extra" (history, epoch, ...)}``;
* ``param/<name>``: one array per parameter;
* ``optim/<index>/<slot>``: the optimizer's moment buffers, if saved.

Loading uses ``numpy.load(..., allow_pickle=False)``, so a file can hold only
numbers and text: opening one never runs code. Files are written to a
temporary file next to the target and renamed over it (atomic on POSIX): a
crash mid-save leaves the previous file intact. A file that is not a
chainrule model (corrupt, truncated, or something else) raises ``ValueError``.

A path ending in ``.safetensors`` is written in that format instead (needs the
``safetensors`` package): the same arrays, with the JSON header stored as the
file's ``__chainrule__`` metadata, readable by any safetensors tool.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import optim

from ._files import atomic_write

FORMAT = "chainrule.model"
VERSION = 1
HEADER = "__chainrule__"
SAFETENSORS = ".safetensors"


def save_model(model: Any, path: str | os.PathLike, include_optimizer: bool = True,
               extra: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (atomically); returns the path.

    >>> import tempfile, os, numpy as np
    >>> from chainrule import nn
    >>> model = nn.Sequential([nn.Dense(3, "relu", input_dim=2), nn.Dense(2, "softmax")], seed=0)
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "model.npz"))
    >>> restored = load_model(path)
    >>> x = np.ones((1, 2), "float32")
    >>> bool(np.allclose(restored.predict(x), model.predict(x)))
    True
    """
    path = Path(path)
    if not model.built:
        raise ValueError("save: the model has no weights yet; give the first layer input_dim=... "
                         "or train it (fit) before saving")
    names = [name for name, _ in model.named_parameters()]
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION, "model": model.get_config(),
                              "parameters": names, "extra": extra or {}}
    arrays = {f"param/{name}": p.numpy() for name, p in model.named_parameters()}
    if model.loss is not None:
        header["compile"] = {"loss": model.loss.get_config(), "metrics": list(model.metrics),
                             "optimizer": model.optimizer.get_config()
                             if model.optimizer is not None else None}
    if include_optimizer and model.optimizer is not None and model.optimizer.params:
        state = model.optimizer.state_dict()
        header["optimizer"] = {"iterations": state["iterations"], "lr": state["lr"]}
        for i, slots in enumerate(state["slots"]):
            for key, value in slots.items():
                arrays[f"optim/{i}/{key}"] = value
    arrays[HEADER] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    _write_atomically(path, arrays)
    return path


def _write_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    if path.suffix == SAFETENSORS:
        header = arrays.pop(HEADER).tobytes().decode("utf-8")
        blob = _safetensors("save")({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                                    metadata={HEADER: header})
        with atomic_write(path, "wb") as stream:
            stream.write(blob)
        return
    with atomic_write(path, "wb") as stream:
        np.savez(stream, **arrays)


def _safetensors(function: str) -> Any:
    """``safetensors.numpy.<function>`` (``save`` or ``load``), or a clear ImportError."""
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(".safetensors model files need the safetensors package "
                          "(pip install safetensors); or use a .npz file name") from None
    return getattr(safetensors.numpy, function)


def read_model_file(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """``(header, arrays)`` of a model file, checked; ``ValueError`` if it is not one.

    ``.npz`` files are read with ``allow_pickle=False``; anything else that is
    not a zip archive is read as safetensors, when that package is installed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_model: no such file: {path}")
    with open(path, "rb") as stream:
        magic = stream.read(4)
    try:
        if magic != b"PK\x03\x04" and path.suffix == SAFETENSORS:
            header, arrays = _read_safetensors(path)
        else:
            header, arrays = _read_npz(path)
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, UnicodeDecodeError,
            json.JSONDecodeError) as error:
        raise ValueError(f"load_model: {path} is not a chainrule model file "
                         f"({_reason(error)})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"load_model: {path} is not a chainrule model file (wrong format tag)")
    if header.get("version", 0) > VERSION:
        raise ValueError(f"load_model: {path} was written by a newer chainrule (format version "
                         f"{header.get('version')}); upgrade chainrule to read it")
    return header, arrays


def _read_npz(path: Path) -> tuple[Any, dict[str, np.ndarray]]:
    archive = np.load(path, allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError("it holds a single array, not an archive")  # noqa: TRY004
    with archive:
        if HEADER not in archive.files:
            raise ValueError("it has no chainrule header")
        arrays = {key: archive[key] for key in archive.files}
    return json.loads(arrays.pop(HEADER).tobytes().decode("utf-8")), arrays


def _read_safetensors(path: Path) -> tuple[Any, dict[str, np.ndarray]]:
    """A safetensors file: an 8-byte header length, a JSON header, then the raw tensors."""
    blob = path.read_bytes()
    if len(blob) < 8:
        raise ValueError("too short for a safetensors file")
    size = int.from_bytes(blob[:8], "little")
    if size > len(blob) - 8:
        raise ValueError("its safetensors header is longer than the file")
    metadata = json.loads(blob[8:8 + size].decode("utf-8")).get("__metadata__") or {}
    if HEADER not in metadata:
        raise ValueError("it has no chainrule header")
    try:
        arrays = _safetensors("load")(blob)
    except ImportError:
        raise
    except Exception as error:  # noqa: BLE001  (the library's own error type for a damaged file)
        raise ValueError(f"damaged safetensors data: {_reason(error)}") from None
    return json.loads(metadata[HEADER]), arrays


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]


def load_checkpoint(path: str | os.PathLike) -> tuple[Any, dict]:
    """``(model, extra)``: the model (compiled, optimizer state restored) and the saved extras."""
    from .model import Sequential

    header, arrays = read_model_file(path)
    try:
        model = Sequential.from_config(header["model"])
        names = header["parameters"]
        state = {name: arrays[f"param/{name}"] for name in names}
        if not model.built:
            first = state.get(names[0]) if names else None
            model.build(int(first.shape[0]) if first is not None else None)
        model.load_state_dict(state)
        compiled = header.get("compile")
        if compiled:
            optimizer = compiled.get("optimizer") or "adam"
            model.compile(loss=compiled["loss"], optimizer=optim.get(optimizer),
                          metrics=compiled.get("metrics"))
            saved = header.get("optimizer")
            if saved is not None:
                slots = [{} for _ in names]
                for key, value in arrays.items():
                    if key.startswith("optim/"):
                        _, index, slot = key.split("/", 2)
                        slots[int(index)][slot] = value
                model.optimizer.load_state_dict({**saved, "slots": slots})
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise ValueError(f"load_model: {path} is damaged or incomplete (missing or wrong "
                         f"entry: {_reason(error)})") from None
    extra = header.get("extra") or {}
    if "history" in extra:
        from .callbacks import History
        model.history = History.from_dict(extra["history"])
    return model, extra


def load_model(path: str | os.PathLike) -> Any:
    """Read a model written by ``model.save(path)``: architecture, weights, compile settings.

    Raises ``ValueError`` for a file that is not a (readable) chainrule model.
    """
    return load_checkpoint(path)[0]
