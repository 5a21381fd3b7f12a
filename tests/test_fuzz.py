"""Property-based tests (Hypothesis): on any input, the readers and the preprocessing either
return a well-formed result or raise one of their documented errors, never anything else.

* ``decode_idx`` / ``read_idx``: ``IDXFormatError`` (``read_idx`` also ``FileNotFoundError``);
* ``scale_pixels``: ``TypeError`` (not integer pixels) or ``ValueError`` (outside 0..255);
* ``Predictor.preprocess``: ``TypeError`` (not real numbers) or ``ValueError`` (shape, NaN,
  infinite, outside [0, 255]);
* ``load_model`` / ``load_checkpoint``: ``ModelFileError`` / ``CheckpointError``.

The web app's drawing preprocessing (canvas image -> 784 pixels) is another developer's and is
not fuzzed here yet: add it next to ``test_predictor_preprocess_raises_only_documented_errors``
once it exists.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers import MLP, build_mlp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from neuralnet.datasets import IDXFormatError, read_idx, write_idx
from neuralnet.datasets.idx import IDX_TYPE_CODES, decode_idx
from neuralnet.datasets.preprocessing import CHAPTER_TABLE, scale_pixels
from neuralnet.engine.optim import SGD
from neuralnet.serving.files import ModelFileError
from neuralnet.serving.modelfile import load_model, save_model
from neuralnet.serving.predictor import Predictor
from neuralnet.training import Trainer
from neuralnet.training.checkpoints import CheckpointError, load_checkpoint, save_checkpoint

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NUMPY_MAX_DIMS = 64


def known_idx_bug(content: bytes) -> bool:
    """Headers that decode_idx currently turns into a plain ValueError from NumPy instead of an
    IDXFormatError (see the two xfail tests below): more dimensions than NumPy allows, or an
    empty array whose other dimensions overflow NumPy's size limit."""
    if len(content) < 4 or content[:2] != b"\0\0" or content[2] not in IDX_TYPE_CODES or content[3] == 0:
        return False
    ndim = content[3]
    if len(content) < 4 + 4 * ndim:
        return False
    shape = struct.unpack_from(f">{ndim}I", content, 4)
    if ndim > NUMPY_MAX_DIMS:
        return True
    return 0 in shape and np.prod([max(d, 1) for d in shape], dtype=object) * 8 >= 2**63


def check_idx_result(array: np.ndarray, content: bytes) -> None:
    assert isinstance(array, np.ndarray) and array.dtype.isnative and array.flags.c_contiguous
    assert 4 + 4 * array.ndim + array.nbytes == len(content)


def idx_header(type_code: int, shape) -> bytes:
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


# --- the IDX reader -----------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=400))
def test_decode_idx_on_arbitrary_bytes(content):
    assume(not known_idx_bug(content))
    try:
        array = decode_idx(content)
    except IDXFormatError:
        return
    check_idx_result(array, content)


@FUZZ
@given(
    type_code=st.sampled_from([*IDX_TYPE_CODES, 0x00, 0x0A, 0xFF]),
    shape=st.lists(st.integers(0, 6), min_size=0, max_size=5),
    extra=st.integers(-20, 20),
    data=st.data(),
)
def test_decode_idx_on_nearly_valid_headers(type_code, shape, extra, data):
    itemsize = IDX_TYPE_CODES[type_code].itemsize if type_code in IDX_TYPE_CODES else 1
    expected = int(np.prod(shape)) * itemsize
    size = max(0, expected + extra)
    content = idx_header(type_code, shape) + data.draw(st.binary(min_size=size, max_size=size))
    valid = type_code in IDX_TYPE_CODES and len(shape) > 0 and size == expected
    try:
        array = decode_idx(content)
    except IDXFormatError:
        assert not valid
        return
    assert valid and array.shape == tuple(shape)
    check_idx_result(array, content)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(
    dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
    compressed=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
    tail=st.binary(max_size=8),
)
def test_read_idx_on_mutated_valid_files(scratch, dtype, shape, compressed, edits, cut, tail):
    path = scratch / ("file.idx.gz" if compressed else "file.idx")
    write_idx(path, np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape))
    content = bytearray(path.read_bytes())
    for position, value in edits:
        if content:
            content[position % len(content)] = value
    content = bytes(content[:cut]) + tail
    path.write_bytes(content)
    assume(not known_idx_bug(gzip.decompress(content) if compressed and _gunzips(content) else content))
    try:
        array = read_idx(path)
    except IDXFormatError as error:
        assert str(path) in str(error)  # the message names the file
        return
    assert isinstance(array, np.ndarray) and array.dtype.isnative


def _gunzips(content: bytes) -> bool:
    try:
        gzip.decompress(content)
        return True
    except Exception:
        return False


@FUZZ
@given(payload=st.binary(max_size=300), raw_gzip=st.booleans())
def test_read_idx_on_arbitrary_gzip_data(scratch, payload, raw_gzip):
    path = scratch / "data.gz"
    content = (b"\x1f\x8b" + payload) if raw_gzip else gzip.compress(payload)
    path.write_bytes(content)
    assume(not known_idx_bug(payload))
    try:
        read_idx(path)
    except IDXFormatError as error:
        assert str(path) in str(error)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=3))
def test_read_idx_on_a_mutated_real_mnist_label_file(data_dir, scratch, edits):
    content = bytearray(gzip.decompress((Path(data_dir) / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    for position, value in edits:
        content[position] = value  # the header and the first labels
    path = scratch / "labels"
    path.write_bytes(bytes(content))
    assume(not known_idx_bug(bytes(content)))
    try:
        labels = read_idx(path)
    except IDXFormatError:
        return
    assert labels.size * labels.itemsize + 4 + 4 * labels.ndim == len(content)


def test_more_than_64_dimensions_is_an_idx_error():
    """Found by the fuzzer: NumPy's own limit used to surface as a bare ValueError."""
    with pytest.raises(IDXFormatError, match="65 dimensions; expected at most 64"):
        decode_idx(idx_header(0x08, (1,) * 65) + b"\x00")


def test_empty_array_with_huge_dimensions_is_an_idx_error():
    """Found by the fuzzer: reshape's 'array is too big' used to surface as a bare ValueError."""
    with pytest.raises(IDXFormatError, match="cannot be an array"):
        decode_idx(idx_header(0x08, (0, 2**32 - 1, 2**32 - 1, 2**32 - 1)))


# --- the image preprocessing ------------------------------------------------------------------

ANY_DTYPE = st.one_of(
    hnp.integer_dtypes(endianness="="),
    hnp.unsigned_integer_dtypes(endianness="="),
    hnp.floating_dtypes(endianness="="),
    hnp.boolean_dtypes(),
    hnp.complex_number_dtypes(endianness="="),
)


@FUZZ
@given(
    hnp.arrays(ANY_DTYPE, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)),
    st.sampled_from([np.float32, np.float64]),
)
def test_scale_pixels_raises_only_documented_errors(pixels, dtype):
    try:
        scaled = scale_pixels(pixels, dtype)
    except (TypeError, ValueError):
        integer = pixels.dtype.kind in "iu"
        in_range = integer and (pixels.size == 0 or (pixels.min() >= 0 and pixels.max() <= 255))
        assert not in_range  # only refused when not integer pixels 0..255
        return
    assert scaled.shape == pixels.shape and scaled.dtype == dtype
    np.testing.assert_array_equal(scaled, CHAPTER_TABLE[pixels.astype(np.int64)].astype(dtype))


@FUZZ
@given(
    st.one_of(
        st.none(), st.text(max_size=5), st.lists(st.one_of(st.integers(-300, 300), st.text(max_size=2)), max_size=4)
    )
)
def test_scale_pixels_on_things_that_are_not_arrays(value):
    try:
        scale_pixels(value)
    except (TypeError, ValueError):
        pass


@pytest.fixture(scope="module")
def predictor():
    return Predictor(build_mlp(MLP(784, [4], 10), random_seed=0))


PIXEL_SHAPES = st.sampled_from([(3, 784), (784,), (0, 784), (2, 783), (1, 785), (5,), (2, 2, 784), ()])
PIXEL_VALUES = st.one_of(st.integers(-1000, 1000), st.floats(allow_nan=True, allow_infinity=True, width=64))


@FUZZ
@given(hnp.arrays(ANY_DTYPE, PIXEL_SHAPES, elements=None) | hnp.arrays(np.float64, PIXEL_SHAPES, elements=PIXEL_VALUES))
def test_predictor_preprocess_raises_only_documented_errors(predictor, pixels):
    try:
        x = predictor.preprocess(pixels)
    except (TypeError, ValueError):
        return
    assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 784
    assert np.all(np.isfinite(x)) and (x.size == 0 or (x.min() >= -1 and x.max() <= 1))
    assert predictor.predict_proba(pixels).shape == (x.shape[0], 10)


@FUZZ
@given(
    st.lists(
        st.lists(
            st.one_of(st.integers(0, 255), st.floats(0, 255), st.text(max_size=1), st.none()), min_size=0, max_size=3
        ),
        max_size=3,
    )
)
def test_predictor_preprocess_on_ragged_and_mixed_lists(predictor, rows):
    try:
        predictor.preprocess(rows)
    except (TypeError, ValueError):
        pass


# --- model files and checkpoints ----------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    arch = MLP(6, [3], 2, activation="relu", dropout=0.2)
    network = build_mlp(arch, random_seed=0)
    model = save_model(folder / "model.safetensors", network)
    trainer = Trainer(network, SGD(network.flat_parameters(), lr=0.1, momentum=0.5), rng=0)
    X = np.random.RandomState(0).normal(size=(20, 6)).astype(np.float32)
    trainer.fit(X, np.arange(20) % 2, epochs=1, batch_size=5, progress=False)
    checkpoint = save_checkpoint(folder / "checkpoint.safetensors", trainer)
    return model.read_bytes(), checkpoint.read_bytes(), folder


def _mutate(content: bytes, edits, cut, tail) -> bytes:
    content = bytearray(content)
    for position, value in edits:
        content[position % len(content)] = value
    return bytes(content[:cut]) + tail


MUTATIONS = dict(
    edits=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 5000)),
    tail=st.binary(max_size=8),
)


@FUZZ
@given(**MUTATIONS)
def test_load_model_on_mutated_files_raises_only_model_file_errors(saved, edits, cut, tail):
    path = saved[2] / "mutated.safetensors"
    path.write_bytes(_mutate(saved[0], edits, cut, tail))
    try:
        network, header = load_model(path)
    except ModelFileError as error:
        assert str(path) in str(error)
        return
    assert all(np.isfinite(p.value).all() for p in network.parameters()) and header["format_version"] == 2


@FUZZ
@given(**MUTATIONS)
def test_load_checkpoint_on_mutated_files_raises_only_checkpoint_errors(saved, edits, cut, tail):
    path = saved[2] / "mutated-checkpoint.safetensors"
    path.write_bytes(_mutate(saved[1], edits, cut, tail))
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as error:
        assert str(path) in str(error)
        return
    assert checkpoint.epoch >= 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(document=JSON_VALUES, key=st.sampled_from(["config", "data_dir", "sizes", "continued_from", "hidden", "lr"]))
def test_run_folder_config_of_any_shape_raises_only_run_folder_errors(tmp_path_factory, document, key):
    """config.json is JSON of any shape, or a real one with one entry replaced by anything: the
    one reader of run folders answers with a RunInfo or a RunFolderError, nothing else."""
    from neuralnet.runs.config import TrainingConfig
    from neuralnet.runs.folders import RunFolder, RunFolderError

    folder = tmp_path_factory.mktemp("run")
    real = {"config": TrainingConfig().to_dict(), "data_dir": "/data", "sizes": {"train": 1, "valid": 1, "test": 1}}
    for content in (document, {**real, key: document}, {**real, "config": {**real["config"], key: document}}):
        (folder / "config.json").write_text(json.dumps(content))
        try:
            info = RunFolder(folder).info()
        except RunFolderError as error:
            assert "config.json" in str(error)
            continue
        assert isinstance(info.config, TrainingConfig)
