"""Specification of cr.data: IDX files, data sets, downloads, splits, k-fold, mini-batches."""

from __future__ import annotations

import doctest
import gzip
import hashlib
import importlib
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import data as crdata
from chainrule.data import (
    Batches,
    ChecksumError,
    DatasetNotFoundError,
    DownloadError,
    batch_indices,
    class_ids,
    digits,
    download_file,
    fashion_mnist,
    iterate_minibatches,
    kfold,
    load,
    mnist,
    one_hot,
    read_idx,
    split_indices,
    train_test_split,
    train_val_test_split,
    write_idx,
)
from chainrule.data._files import atomic_write
from chainrule.data.datasets import SOURCES

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
deterministic = settings(derandomize=True, max_examples=60, deadline=None)


def leftover_temporaries(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- IDX files

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip_keeps_values_dtype_and_shape(tmp_path, dtype, shape, suffix):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        array = (rng.standard_normal(shape) * 1e3).astype(dtype)
    path = write_idx(tmp_path / f"array-idx{len(shape)}{suffix}", array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    assert leftover_temporaries(tmp_path) == []


def test_idx_gzip_file_is_compressed_and_reproducible(tmp_path):
    array = np.zeros((50, 28, 28), np.uint8)
    first = write_idx(tmp_path / "a.gz", array).read_bytes()
    second = write_idx(tmp_path / "b.gz", array).read_bytes()
    assert first[:2] == b"\x1f\x8b"
    assert first == second
    assert len(first) < array.nbytes // 10


def test_read_idx_recognises_gzip_by_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.int16).reshape(2, 3)
    packed = write_idx(tmp_path / "x.gz", array)
    renamed = packed.rename(tmp_path / "x-idx2-short")
    np.testing.assert_array_equal(read_idx(renamed), array)


def test_read_idx_reads_big_endian_bytes_written_by_hand(tmp_path):
    header = bytes([0, 0, 0x0B, 2]) + (2).to_bytes(4, "big") + (2).to_bytes(4, "big")
    payload = b"".join(value.to_bytes(2, "big", signed=True) for value in (1, -2, 300, -32768))
    path = tmp_path / "hand-made"
    path.write_bytes(header + payload)
    np.testing.assert_array_equal(read_idx(path), [[1, -2], [300, -32768]])


def test_write_idx_writes_the_format_byte_for_byte(tmp_path):
    path = write_idx(tmp_path / "labels", np.array([7, 2, 1], np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, bool, np.complex64])
def test_write_idx_refuses_dtypes_the_format_cannot_hold(tmp_path, dtype):
    with pytest.raises(TypeError, match=r"write_idx: dtype .* has no IDX code"):
        write_idx(tmp_path / "x", np.zeros(3, dtype))
    assert not (tmp_path / "x").exists()


def _valid_idx_bytes() -> bytes:
    return bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))


CORRUPT_FILES = {
    "empty": (b"", "not an IDX file"),
    "foreign": (b"PK\x03\x04 a zip archive", "not an IDX file"),
    "unknown dtype": (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "unknown IDX dtype code 0x07"),
    "zero dims": (bytes([0, 0, 8, 0]), "0 dimensions"),
    "short header": (bytes([0, 0, 8, 3, 0, 0, 0, 2]), "ends inside its header"),
    "truncated data": (_valid_idx_bytes()[:-1], "has 17 bytes but its header"),
    "trailing data": (_valid_idx_bytes() + b"\x00", "has 19 bytes but its header"),
    "huge header": (bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3, "requires"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_FILES))
def test_read_idx_rejects_a_corrupt_raw_file_naming_it(tmp_path, case):
    content, message = CORRUPT_FILES[case]
    path = tmp_path / f"corrupt-{case.replace(' ', '-')}"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as raised:
        read_idx(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(
    "case",
    ["foreign", "unknown dtype", "short header", "truncated data", "trailing data", "huge header"],
)
def test_read_idx_rejects_a_corrupt_gzip_file_naming_it(tmp_path, case):
    content, _ = CORRUPT_FILES[case]
    path = tmp_path / "corrupt.gz"
    path.write_bytes(gzip.compress(content))
    with pytest.raises(ValueError, match="read_idx: .*corrupt.gz"):
        read_idx(path)


@pytest.mark.parametrize("damage", ["cut in half", "flipped byte", "gzip magic only"])
def test_read_idx_rejects_a_damaged_gzip_stream(tmp_path, damage):
    packed = bytearray(gzip.compress(_valid_idx_bytes() * 1000))
    if damage == "cut in half":
        packed = packed[: len(packed) // 2]
    elif damage == "flipped byte":
        packed[len(packed) // 2] ^= 0xFF
    else:
        packed = packed[:2] + b"garbage"
    path = tmp_path / "damaged.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(ValueError, match="damaged.gz"):
        read_idx(path)


def test_read_idx_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing-here")


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "model.idx"
    target.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_write(target) as stream:
        stream.write(b"half of the new")
        raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old contents"
    assert leftover_temporaries(tmp_path) == []


def test_atomic_write_gives_files_normal_permissions(tmp_path):
    old_mask = os.umask(0o022)
    try:
        path = write_idx(tmp_path / "x", np.zeros(2, np.uint8))
    finally:
        os.umask(old_mask)
    assert path.stat().st_mode & 0o777 == 0o644


# ----------------------------------------------------------------------------- labels


def test_class_ids_take_the_argmax_of_one_hot_and_probability_rows():
    np.testing.assert_array_equal(class_ids(one_hot([2, 0, 1], 3)), [2, 0, 1])
    np.testing.assert_array_equal(class_ids([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]]), [1, 0])
    np.testing.assert_array_equal(class_ids([[3], [1]]), [3, 1])
    assert class_ids([1.0, 2.0]).dtype == np.int64


@pytest.mark.parametrize(
    "labels, error, message",
    [
        ([0.5, 1.0], ValueError, "not whole class ids"),
        ([-1, 2], ValueError, "negative class id"),
        (np.zeros((2, 2, 2)), ValueError, r"got shape \(2, 2, 2\)"),
        ([True, False], TypeError, "integer class ids"),
        (["a", "b"], TypeError, "integer class ids"),
    ],
)
def test_class_ids_reject_labels_that_are_not_class_ids(labels, error, message):
    with pytest.raises(error, match=message):
        class_ids(labels)


def test_one_hot_encodes_and_checks_the_class_count():
    rows = one_hot([1, 0, 3])
    assert rows.shape == (3, 4) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows.argmax(axis=1), [1, 0, 3])
    np.testing.assert_array_equal(rows.sum(axis=1), [1, 1, 1])
    with pytest.raises(ValueError, match="num_classes=2"):
        one_hot([0, 2], num_classes=2)


@pytest.mark.parametrize("num_classes", [5, 300])   # rows of a kept identity, and without one
def test_one_hot_rows_are_fresh_arrays_of_every_integer_and_float_input(num_classes):
    ids = [4, 0, 4, 1]
    expected = np.zeros((4, num_classes))
    expected[np.arange(4), ids] = 1
    for y in (np.array(ids, np.uint8), np.array(ids, np.int32), ids, np.array(ids, float),
              np.array(ids)[:, None]):
        for dtype in (np.float32, np.float64):
            rows = one_hot(y, num_classes, dtype=dtype)
            assert rows.dtype == dtype and rows.flags.writeable
            np.testing.assert_array_equal(rows, expected)
            rows[:] = 7                                   # the next call is not touched
    assert one_hot(np.array([], np.int64), num_classes).shape == (0, num_classes)
    with pytest.raises(ValueError, match="negative class id"):
        one_hot(np.array([0, -1]), num_classes)
    with pytest.raises(ValueError, match="not whole"):
        one_hot([0.5], num_classes)
    with pytest.raises(TypeError, match="integer class ids"):
        one_hot(np.array([True, False]), num_classes)


# ----------------------------------------------------------------------------- data sets


def write_fake_mnist(
    folder: Path, n_train: int = 30, n_test: int = 12, gz: bool = True, seed: int = 0
) -> dict[str, np.ndarray]:
    """Four small IDX files in MNIST's layout; returns the arrays written, by file name."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_the_four_files_from_data_dir(tmp_path, gz):
    arrays = write_fake_mnist(tmp_path, gz=gz)
    data = mnist(tmp_path, download=False)
    assert data.name == "mnist" and data.classes == tuple("0123456789")
    assert data.x_train.shape == (30, 784) and data.x_test.shape == (12, 784)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    expected = arrays["train-images-idx3-ubyte"].reshape(30, -1) / 255.0
    np.testing.assert_allclose(data.x_train, expected, rtol=1e-6)
    np.testing.assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert data.input_shape == (784,) and data.num_classes == 10


def test_mnist_can_keep_images_two_dimensional_and_scales_to_unit_range(tmp_path):
    write_fake_mnist(tmp_path)
    data = mnist(tmp_path, download=False, flatten=False, dtype=np.float64)
    assert data.x_train.shape == (30, 28, 28) and data.x_train.dtype == np.float64
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert data.x_train.max() == 1.0  # a 255 pixel becomes exactly 1


def test_mnist_rejects_images_and_labels_that_do_not_match(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(ValueError, match="should hold 30 labels"):
        mnist(tmp_path, download=False)


def test_mnist_rejects_labels_outside_the_classes(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(12, 10, np.uint8))
    with pytest.raises(ValueError, match="holds label 10"):
        mnist(tmp_path, download=False)


def test_mnist_rejects_label_files_given_as_images(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros(30, np.uint8))
    with pytest.raises(ValueError, match=r"shape \(n, height, width\)"):
        mnist(tmp_path, download=False)


def test_missing_files_offline_say_which_file_where_and_data_dir(tmp_path):
    with pytest.raises(DatasetNotFoundError) as raised:
        mnist(tmp_path / "empty", download=False)
    message = str(raised.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "empty") in message
    assert "--data-dir" in message
    assert isinstance(raised.value, FileNotFoundError)


def test_unreachable_mirrors_give_the_same_helpful_error(tmp_path, monkeypatch):
    unreachable = (tmp_path / "no-mirror").as_uri() + "/"
    monkeypatch.setitem(SOURCES, "mnist", _with(SOURCES["mnist"], mirrors=(unreachable,)))
    with pytest.raises(DatasetNotFoundError, match="--data-dir") as raised:
        mnist(cache_dir=tmp_path / "cache")
    assert "no-mirror" in str(raised.value)
    assert not any((tmp_path / "cache").glob("*ubyte*"))


def _with(source, **changes):
    from dataclasses import replace

    return replace(source, **changes)


def _digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in IDX_FILES}


def test_download_fills_the_cache_after_checking_sha256(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    arrays = write_fake_mnist(mirror)
    source = _with(SOURCES["mnist"], mirrors=(mirror.as_uri() + "/",), sha256=_digests(mirror))
    monkeypatch.setitem(SOURCES, "mnist", source)
    cache = tmp_path / "cache"
    data = mnist(cache_dir=cache)
    np.testing.assert_array_equal(data.y_train, arrays["train-labels-idx1-ubyte"])
    assert sorted(path.name for path in cache.iterdir()) == sorted(IDX_FILES)
    assert _digests(cache) == source.sha256
    for name in IDX_FILES:  # the cache is now used without any network
        (mirror / name).unlink()
    assert mnist(cache_dir=cache, download=False).x_test.shape == (12, 784)


def test_download_goes_to_data_dir_when_no_cache_dir_is_given(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_fake_mnist(mirror)
    source = _with(SOURCES["mnist"], mirrors=(mirror.as_uri() + "/",), sha256=_digests(mirror))
    monkeypatch.setitem(SOURCES, "mnist", source)
    mnist(tmp_path / "mine")
    assert sorted(path.name for path in (tmp_path / "mine").iterdir()) == sorted(IDX_FILES)


def test_download_with_a_wrong_sha256_keeps_nothing(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_fake_mnist(mirror)
    digests = _digests(mirror)
    digests["t10k-images-idx3-ubyte.gz"] = "0" * 64
    source = _with(SOURCES["mnist"], mirrors=(mirror.as_uri() + "/",), sha256=digests)
    monkeypatch.setitem(SOURCES, "mnist", source)
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="t10k-images-idx3-ubyte.gz") as raised:
        mnist(cache_dir=cache)
    assert "0" * 64 in str(raised.value)
    assert not (cache / "t10k-images-idx3-ubyte.gz").exists()
    assert leftover_temporaries(cache) == []


def test_download_file_checks_sha256_and_writes_atomically(tmp_path):
    source = tmp_path / "served.bin"
    source.write_bytes(os.urandom(200_000))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    saved = download_file(source.as_uri(), tmp_path / "out" / "copy.bin", digest.upper())
    assert saved.read_bytes() == source.read_bytes()
    with pytest.raises(ChecksumError, match="differs from the expected"):
        download_file(source.as_uri(), tmp_path / "out" / "bad.bin", "f" * 64)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["copy.bin"]


def test_download_file_falls_back_to_the_next_mirror(tmp_path):
    source = tmp_path / "served.bin"
    source.write_bytes(b"payload")
    digest = hashlib.sha256(b"payload").hexdigest()
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"tampered")
    urls = [(tmp_path / "absent.bin").as_uri(), wrong.as_uri(), source.as_uri()]
    assert download_file(urls, tmp_path / "copy.bin", digest).read_bytes() == b"payload"


def test_download_file_reports_every_mirror_that_failed(tmp_path):
    urls = [(tmp_path / "a.bin").as_uri(), (tmp_path / "b.bin").as_uri()]
    with pytest.raises(DownloadError, match="a.bin.*b.bin"):
        download_file(urls, tmp_path / "copy.bin", "0" * 64)
    assert not (tmp_path / "copy.bin").exists()


def test_download_uses_urllib_so_a_patched_opener_sees_the_mirror_urls(tmp_path, monkeypatch):
    import io
    import urllib.request

    requested = []

    def fake_urlopen(url, timeout):
        requested.append(url)
        return io.BytesIO(b"abc")

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    digest = hashlib.sha256(b"abc").hexdigest()
    download_file(["https://mirror.invalid/x.gz"], tmp_path / "x.gz", digest)
    assert requested == ["https://mirror.invalid/x.gz"]
    assert (tmp_path / "x.gz").read_bytes() == b"abc"


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_known_digests_cover_the_four_standard_files(name):
    source = SOURCES[name]
    assert source.files == IDX_FILES
    for digest in source.sha256.values():
        assert len(digest) == 64 and int(digest, 16) >= 0
    assert len(set(source.sha256.values())) == 4
    assert all(mirror.endswith("/") for mirror in source.mirrors)


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_loads_the_installed_debian_files(tmp_path):
    data = fashion_mnist(download=False, cache_dir=tmp_path / "unused")
    assert data.x_train.shape == (60000, 784) and data.x_test.shape == (10000, 784)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert 0.0 <= data.x_test.min() and data.x_test.max() <= 1.0
    assert np.bincount(data.y_train).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert not (tmp_path / "unused").exists()
    same = load("fashion_mnist", FASHION_DIR, download=False, flatten=False)
    assert same.x_test.shape == (10000, 28, 28)
    np.testing.assert_array_equal(same.x_test.reshape(10000, -1), data.x_test)


def test_digits_are_scaled_split_and_stratified():
    data = digits()
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    everything = np.bincount(np.concatenate([data.y_train, data.y_test]))
    assert np.all(np.abs(np.bincount(data.y_test) - everything * 0.2) <= 1)
    assert digits(flatten=False).x_test.shape == (360, 8, 8)


def test_digits_split_depends_on_the_seed_only():
    first, again, other = digits(seed=3), digits(seed=3), digits(seed=4)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert not np.array_equal(first.x_test, other.x_test)


def test_load_dispatches_on_names_and_lists_the_known_ones(tmp_path):
    write_fake_mnist(tmp_path)
    assert load("MNIST", tmp_path, download=False).x_train.shape == (30, 784)
    assert load("digits", test_size=0.5).x_test.shape == (899, 64)
    with pytest.raises(
        ValueError, match="unknown data set 'cifar10'; known: digits, mnist, fashion-mnist"
    ):
        load("cifar10")


def test_dataset_repr_is_a_short_summary():
    text = repr(digits())
    assert text == "Dataset('digits', train=(1437, 64), test=(360, 64), classes=10)"


def test_data_modules_have_runnable_examples():
    for name in ["", ".labels", ".idx", ".download", ".datasets", ".splits", ".batching"]:
        module = importlib.import_module("chainrule.data" + name)
        results = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert results.attempted > 0, name
        assert results.failed == 0, name


# ----------------------------------------------------------------------------- splits


def imbalanced_labels(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.permutation(np.repeat(np.arange(5), [50, 31, 17, 9, 3]))


@pytest.mark.parametrize("test_size", [0.2, 0.33, 0.5, 25])
def test_train_test_split_is_a_stratified_partition(test_size):
    y = imbalanced_labels()
    x = np.arange(len(y)) * 10
    x_train, x_test, _, y_test = train_test_split(x, y, test_size=test_size, seed=1)
    expected = test_size if isinstance(test_size, int) else int(np.ceil(test_size * len(y)))
    assert len(x_test) == expected and len(x_train) == len(y) - expected
    assert sorted(np.concatenate([x_train, x_test]).tolist()) == x.tolist()
    np.testing.assert_array_equal(y[x_test // 10], y_test)
    share = expected / len(y)
    deviation = np.bincount(y_test, minlength=5) - np.bincount(y) * share
    assert np.all(np.abs(deviation) < 1)


def test_train_test_split_is_reproducible_and_seed_dependent():
    y = imbalanced_labels()
    x = np.arange(len(y))
    first = train_test_split(x, y, seed=7)
    again = train_test_split(x, y, seed=7)
    other = train_test_split(x, y, seed=8)
    for part, same in zip(first, again):
        np.testing.assert_array_equal(part, same)
    assert set(first[1]) != set(other[1])


def test_unstratified_split_has_the_requested_size():
    train, test = split_indices(100, test_size=0.25, seed=0)
    assert len(test) == 25 and len(set(train) | set(test)) == 100
    y = np.repeat([0, 1], [90, 10])
    train, test = split_indices(y, test_size=0.5, stratify=False, seed=0)
    assert len(test) == 50 and np.array_equal(np.sort(np.r_[train, test]), np.arange(100))


@pytest.mark.parametrize("test_size", [0.0, 1.0, 0, 10, -0.5, "0.2"])
def test_split_rejects_sizes_that_leave_a_part_empty(test_size):
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(np.zeros(10), np.arange(10) % 2, test_size=test_size)


def test_split_names_the_shapes_when_x_and_y_differ_in_length():
    with pytest.raises(ValueError, match=r"train_test_split: .*\(10, 3\) and \(9,\)"):
        train_test_split(np.zeros((10, 3)), np.zeros(9, int))


def test_train_val_test_split_is_a_three_way_stratified_partition():
    y = imbalanced_labels(2)
    x = np.arange(len(y))
    x_train, x_val, x_test, y_train, y_val, y_test = train_val_test_split(
        x, y, val_size=0.15, test_size=0.25, seed=0
    )
    assert (len(x_train), len(x_val), len(x_test)) == (65, 17, 28)  # of 110
    assert sorted(np.concatenate([x_train, x_val, x_test]).tolist()) == x.tolist()
    np.testing.assert_array_equal(y[x_val], y_val)
    np.testing.assert_array_equal(y[x_train], y_train)
    for part, fraction in ((y_val, 17 / 110), (y_test, 28 / 110)):
        assert np.all(np.abs(np.bincount(part, minlength=5) - np.bincount(y) * fraction) < 2)
    with pytest.raises(ValueError, match="leave no training samples"):
        train_val_test_split(x, y, val_size=0.5, test_size=0.5)


@deterministic
@given(
    labels=st.lists(st.integers(0, 6), min_size=4, max_size=120),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_split_property(labels, fraction, seed):
    y = np.array(labels)
    count = int(np.ceil(fraction * len(y)))
    if not 0 < count < len(y):
        return
    train, test = split_indices(y, fraction, seed=seed)
    assert len(test) == count
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    counts = np.bincount(y)
    deviation = np.bincount(y[test], minlength=len(counts)) - counts * count / len(y)
    assert np.all(np.abs(deviation) < 1)


def check_kfold(y: np.ndarray, k: int, folds: list, stratified: bool) -> None:
    assert len(folds) == k
    seen = np.zeros(len(y), dtype=int)
    for train, val in folds:
        seen[val] += 1
        assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(y)))
        assert len(np.intersect1d(train, val)) == 0
    assert np.all(seen == 1), "every sample is in exactly one validation fold"
    sizes = [len(val) for _, val in folds]
    assert max(sizes) - min(sizes) <= 1
    if stratified:
        per_fold = np.array([np.bincount(y[val], minlength=y.max() + 1) for _, val in folds])
        assert np.all(per_fold.max(axis=0) - per_fold.min(axis=0) <= 1)


@pytest.mark.parametrize("k", [2, 3, 5, 10])
@pytest.mark.parametrize("stratify", [True, False])
def test_kfold_partitions_the_samples(k, stratify):
    y = imbalanced_labels()
    check_kfold(y, k, list(kfold(y, k, stratify=stratify, seed=0)), stratify)


@deterministic
@given(
    labels=st.lists(st.integers(0, 4), min_size=2, max_size=80),
    k=st.integers(2, 8),
    shuffle=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_stratified_kfold_property(labels, k, shuffle, seed):
    y = np.array(labels)
    if k > len(y):
        return
    check_kfold(y, k, list(kfold(y, k, shuffle=shuffle, seed=seed)), stratified=True)


def test_kfold_without_shuffle_uses_contiguous_blocks():
    folds = list(kfold(10, k=3, shuffle=False))
    assert [val.tolist() for _, val in folds] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_kfold_is_reproducible_and_seed_dependent():
    y = imbalanced_labels()
    first = [val.tolist() for _, val in kfold(y, 4, seed=5)]
    assert first == [val.tolist() for _, val in kfold(y, 4, seed=5)]
    assert first != [val.tolist() for _, val in kfold(y, 4, seed=6)]


@pytest.mark.parametrize("k", [1, 11, 2.5])
def test_kfold_rejects_impossible_fold_counts(k):
    with pytest.raises(ValueError, match="kfold: k must be"):
        list(kfold(np.arange(10) % 2, k))


# ----------------------------------------------------------------------------- mini-batches


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 8), (1, 1)])
def test_batch_indices_cover_every_index_once_per_epoch(n, batch_size):
    rng = np.random.default_rng(0)
    for _ in range(3):
        batches = list(batch_indices(n, batch_size, rng=rng))
        assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(n))
        assert [len(batch) for batch in batches[:-1]] == [batch_size] * (len(batches) - 1)
        assert 1 <= len(batches[-1]) <= batch_size


def test_batch_indices_drop_last_drops_only_the_short_batch():
    sizes = [len(batch) for batch in batch_indices(10, 3, rng=0, drop_last=True)]
    assert sizes == [3, 3, 3]
    assert [len(batch) for batch in batch_indices(9, 3, rng=0, drop_last=True)] == [3, 3, 3]


def test_batch_indices_are_in_order_without_shuffle_and_reproducible_with_a_seed():
    assert np.concatenate(list(batch_indices(7, 2, shuffle=False))).tolist() == list(range(7))
    first = np.concatenate(list(batch_indices(50, 8, rng=3)))
    assert np.array_equal(first, np.concatenate(list(batch_indices(50, 8, rng=3))))
    assert not np.array_equal(first, np.arange(50))


def test_a_shared_generator_gives_new_but_reproducible_orders_each_epoch():
    def epochs(seed):
        rng = np.random.default_rng(seed)
        return [np.concatenate(list(batch_indices(30, 7, rng=rng))) for _ in range(3)]

    first, again = epochs(1), epochs(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])


def test_iterate_minibatches_keeps_inputs_and_labels_aligned():
    x = np.arange(23 * 2).reshape(23, 2)
    y = np.arange(23)
    seen = []
    for x_batch, y_batch in iterate_minibatches(x, y, batch_size=5, rng=0):
        np.testing.assert_array_equal(x_batch[:, 0], 2 * y_batch)
        seen.extend(y_batch.tolist())
    assert sorted(seen) == list(range(23))
    alone = list(iterate_minibatches(x, batch_size=10, shuffle=False))
    assert [batch.shape for batch in alone] == [(10, 2), (10, 2), (3, 2)]


def test_batches_is_reiterable_one_epoch_per_loop_without_copying_the_data():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    batches = Batches(x, y, batch_size=6, seed=0)
    assert batches.x is x and len(batches) == 4
    orders = []
    for _ in range(2):
        epoch = [y_batch for _, y_batch in batches]
        assert [len(part) for part in epoch] == [6, 6, 6, 2]
        orders.append(np.concatenate(epoch))
        assert sorted(orders[-1].tolist()) == list(range(20))
    assert not np.array_equal(orders[0], orders[1])
    assert len(Batches(x, y, batch_size=6, drop_last=True)) == 3
    assert "batches=4" in repr(batches)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_batching_rejects_a_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        list(batch_indices(10, batch_size))


def test_batching_names_the_shapes_when_x_and_y_differ_in_length():
    with pytest.raises(ValueError, match=r"Batches: .*\(5, 2\) and \(4,\)"):
        Batches(np.zeros((5, 2)), np.zeros(4))


def test_public_names_are_exported():
    for name in crdata.__all__:
        assert hasattr(crdata, name), name
