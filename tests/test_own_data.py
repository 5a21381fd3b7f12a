"""A user's own data (issue 15): CSV, .npz, image folders, IDX folders and the toy 2-D problems,
read, checked, split, preprocessed into the model file, predicted and scored from the command line."""

from __future__ import annotations

import csv
import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralnet.cli import main
from neuralnet.datasets.imagefolder import read_idx_folder, read_image_folder
from neuralnet.datasets.split import fraction_split
from neuralnet.datasets.tables import DataError, read_csv, read_feature_columns, read_npz
from neuralnet.datasets.toy import TOY_DATASETS, make_toy, spirals
from neuralnet.runs.config import TrainingConfig
from neuralnet.runs.data import labels_and_classes, load_data
from neuralnet.runs.scoring import evaluate_on, predict_file
from neuralnet.serving.predictor import load


def write_csv(path: Path, header, rows) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def train(argv, out: Path) -> Path:
    """Run ``neuralnet train`` with ``argv`` into ``out``; the one run folder it made."""
    assert main(["train", *argv, "--out", str(out), "--no-progress"]) == 0
    (folder,) = list(out.iterdir())
    return folder


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory) -> Path:
    """scikit-learn's breast-cancer data as a CSV file with the class names as text."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    path = tmp_path_factory.mktemp("cancer") / "cancer.csv"
    rows = [[*map(repr, map(float, x)), data.target_names[t]] for x, t in zip(data.data, data.target)]
    return write_csv(path, [*data.feature_names, "diagnosis"], rows)


@pytest.fixture(scope="module")
def cancer_run(cancer_csv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cancer-runs")
    return train(
        ["--data", str(cancer_csv), "--target", "diagnosis", "--hidden", "16", "--epochs", "40", "--seed", "3"], out
    )


# --- reading CSV files -------------------------------------------------------------------


def test_read_csv_gives_numeric_features_and_text_labels(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b", "kind"], [[1, 2.5, "cat"], [3, -4e-3, "dog"], [5, 6, "cat"]])
    table = read_csv(path)
    np.testing.assert_array_equal(table.X, [[1, 2.5], [3, -0.004], [5, 6]])
    assert table.X.dtype == np.float64 and table.features == ["a", "b"] and table.target == "kind"
    assert list(table.y) == ["cat", "dog", "cat"]
    indices, classes = labels_and_classes(table.y)
    assert classes == ["cat", "dog"] and list(indices) == [0, 1, 0]


def test_read_csv_target_by_name_and_semicolons(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("label;x;y\n1;0.5;2\n0;1.5;3\n")
    table = read_csv(path, target="label")
    np.testing.assert_array_equal(table.X, [[0.5, 2], [1.5, 3]])
    np.testing.assert_array_equal(table.y, [1.0, 0.0])
    assert table.features == ["x", "y"]


@pytest.mark.parametrize(
    "text, target, message",
    [
        ("a,b,c\n1,2,x\n1,2\n", None, "row 3: 2 cells, but the header has 3 columns"),
        ("a,b,c\n1,2,x\n1,oops,y\n", None, "row 3, column 'b': 'oops' is not a number"),
        ("a,b,c\n1,2,x\n1,,y\n", None, "row 3, column 'b': the value is missing"),
        ("a,b,c\n1,2,x\n1,NA,y\n", None, "row 3, column 'b': the value is missing"),
        ("a,b,c\n1,2,x\n", "label", "there is no target column 'label'; the columns are ['a', 'b', 'c']"),
        ("a,b,c\n", None, "has a header but no rows of data"),
        ("", None, "is empty"),
        ("a,a,c\n1,2,x\n", None, "names the columns ['a'] more than once"),
    ],
)
def test_read_csv_refuses_bad_files_naming_row_and_column(tmp_path, text, target, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match="bad.csv") as error:
        read_csv(path, target)
    assert message in str(error.value)


def test_read_feature_columns_takes_the_models_columns_by_name(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["b", "extra", "a"], [[1, "zz", 2], [3, "yy", 4]])
    np.testing.assert_array_equal(read_feature_columns(path, ["a", "b"]), [[2, 1], [4, 3]])
    with pytest.raises(DataError, match="has no column 'c'; the model takes the columns"):
        read_feature_columns(path, ["a", "c"])


# --- .npz files ----------------------------------------------------------------------------


def test_read_npz_arrays_and_own_test_split(tmp_path):
    X, y = np.arange(12.0).reshape(6, 2), np.array([0, 1, 0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", X=X, y=y, X_test=X[:2], y_test=y[:2])
    table = read_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(table.X, X)
    np.testing.assert_array_equal(table.y_test, y[:2])
    np.savez(tmp_path / "short.npz", X=X, y=y[:5])
    with pytest.raises(DataError, match=r"y has shape \(5,\), but X has 6 examples"):
        read_npz(tmp_path / "short.npz")
    np.savez(tmp_path / "half.npz", X=X, y=y, X_test=X)
    with pytest.raises(DataError, match="give both X_test and y_test"):
        read_npz(tmp_path / "half.npz")
    np.savez(tmp_path / "objects.npz", X=np.array([[1, "a"]], dtype=object), y=np.array([1]))
    with pytest.raises(DataError, match="objects.npz"):
        read_npz(tmp_path / "objects.npz")
    np.savez(tmp_path / "nan.npz", X=np.array([[1.0], [np.nan]]), y=np.array([0, 1]))
    with pytest.raises(DataError, match="NaN or infinite value in row 1"):
        read_npz(tmp_path / "nan.npz")


def test_an_npz_with_its_own_test_split_is_used_as_it_is(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)
    np.savez(tmp_path / "d.npz", X=X[:150], y=y[:150], X_test=X[150:], y_test=y[150:])
    data = load_data(TrainingConfig(data=str(tmp_path / "d.npz"), valid_fraction=0.2))
    assert (len(data.X_train), len(data.X_valid), len(data.X_test)) == (120, 30, 50)  # valid: 0.2 of the 150
    np.testing.assert_array_equal(data.y_test, y[150:])


# --- image folders and IDX folders ---------------------------------------------------------


def save_images(folder: Path, images: dict[str, list[np.ndarray]], suffix=".png") -> Path:
    for name, arrays in images.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for k, array in enumerate(arrays):
            Image.fromarray(array).save(folder / name / f"{k}{suffix}")
    return folder


def test_image_folder_classes_shape_and_resizing_to_the_most_common_size(tmp_path):
    gray = lambda value, size=(8, 6): np.full(size, value, np.uint8)  # noqa: E731
    folder = save_images(tmp_path / "imgs", {"b": [gray(10), gray(20)], "a": [gray(200), gray(100, (16, 12))]})
    images = read_image_folder(folder)
    assert images.class_names == ["a", "b"] and images.image_shape == (1, 8, 6)
    assert images.X.shape == (4, 48) and images.X.dtype == np.uint8
    assert list(images.y) == [0, 0, 1, 1]
    np.testing.assert_array_equal(images.X[0], 200)
    np.testing.assert_array_equal(images.X[1], 100)  # 16 x 12 resized to 8 x 6 (a flat image stays flat)
    assert read_image_folder(folder, image_size=4).image_shape == (1, 4, 4)


def test_image_folder_of_rgb_images_is_channels_first(tmp_path):
    red = np.zeros((5, 5, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((5, 5, 3), np.uint8)
    blue[..., 2] = 255
    images = read_image_folder(save_images(tmp_path / "c", {"red": [red], "blue": [blue]}))
    assert images.image_shape == (3, 5, 5)
    np.testing.assert_array_equal(images.X[1].reshape(3, 5, 5)[0], 255)  # class 1 = "red": channel 0 is full
    np.testing.assert_array_equal(images.X[1].reshape(3, 5, 5)[1:], 0)


def test_image_folder_bad_inputs(tmp_path):
    gray, colour = np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8)
    mixed = save_images(tmp_path / "mixed", {"a": [gray], "b": [colour]})
    with pytest.raises(DataError, match="mixes grayscale and colour images"):
        read_image_folder(mixed)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no sub-folders: expected one folder per class"):
        read_image_folder(tmp_path / "empty")
    no_images = save_images(tmp_path / "none", {"a": [gray]})
    (no_images / "b").mkdir()
    with pytest.raises(DataError, match=r"class 'b'\) holds no images"):
        read_image_folder(no_images)
    not_image = save_images(tmp_path / "text", {"a": [gray], "b": [gray]})
    (not_image / "b" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="notes.txt is not a PNG or JPEG file"):
        read_image_folder(not_image)
    broken = save_images(tmp_path / "broken", {"a": [gray], "b": [gray]})
    (broken / "b" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match="cut.png is not an image that can be read"):
        read_image_folder(broken)
    with pytest.raises(DataError, match="one class folder"):
        read_image_folder(save_images(tmp_path / "one", {"a": [gray, gray]}))


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def idx_folder(folder: Path, train_images, train_labels, test_images, test_labels) -> Path:
    folder.mkdir()
    write_idx(folder / "emnist-train-images-idx3-ubyte.gz", train_images)
    write_idx(folder / "emnist-train-labels-idx1-ubyte.gz", train_labels)
    write_idx(folder / "emnist-test-images-idx3-ubyte.gz", test_images)
    write_idx(folder / "emnist-test-labels-idx1-ubyte.gz", test_labels)
    return folder


def test_idx_folder_with_any_image_size_and_number_of_classes(tmp_path):
    rng = np.random.default_rng(1)
    labels = np.array([3, 7, 12, 3, 7, 12])
    folder = idx_folder(
        tmp_path / "set", rng.integers(0, 256, (6, 5, 7)), labels, rng.integers(0, 256, (3, 5, 7)), np.array([12, 3, 7])
    )
    images = read_idx_folder(folder)
    assert images.class_names == ["3", "7", "12"] and images.image_shape == (1, 5, 7)
    assert list(images.y) == [0, 1, 2, 0, 1, 2] and list(images.y_test) == [2, 0, 1]
    assert images.X.shape == (6, 35) and images.X_test.shape == (3, 35)


def test_idx_folder_whose_counts_disagree_is_refused(tmp_path):
    folder = idx_folder(tmp_path / "set", np.zeros((6, 4, 4)), np.zeros(5), np.zeros((2, 4, 4)), np.zeros(2))
    with pytest.raises(DataError, match="holds 6 images but emnist-train-labels-idx1-ubyte.gz 5 labels"):
        read_idx_folder(folder)


# --- toy problems and splits ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TOY_DATASETS))
def test_toy_problems_are_seeded_2d_with_their_classes(name):
    X, y = make_toy(name, samples=300, noise=0.1, seed=4)
    assert X.shape == (300, 2) and X.dtype == np.float64
    assert sorted(set(y.tolist())) == list(range(TOY_DATASETS[name]))
    X2, y2 = make_toy(name, samples=300, noise=0.1, seed=4)
    np.testing.assert_array_equal(X, X2)
    assert not np.array_equal(X, make_toy(name, samples=300, noise=0.1, seed=5)[0])


def test_spirals_follow_the_nnfs_definition():
    X, y = spirals(30, classes=3, noise=0.0, rng=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[:10], np.linspace(0, 1, 10), atol=1e-12)
    angle = np.linspace(4, 8, 10) * 2.5  # arm 1: t = linspace(4, 8), points (r sin 2.5t, r cos 2.5t)
    np.testing.assert_allclose(
        X[10:20], np.c_[np.linspace(0, 1, 10) * np.sin(angle), np.linspace(0, 1, 10) * np.cos(angle)], atol=1e-12
    )
    assert list(y) == [0] * 10 + [1] * 10 + [2] * 10


def test_fraction_split_is_stratified_seeded_and_names_a_tiny_class():
    y = np.array([0] * 80 + [1] * 20)
    train, valid, test = fraction_split(np.zeros((100, 1)), y, 0.1, 0.2, seed=7, stratify=True)
    assert (len(train), len(valid), len(test)) == (70, 10, 20)
    assert sorted(np.concatenate([train, valid, test]).tolist()) == list(range(100))
    assert np.mean(y[test]) == pytest.approx(0.2) and np.mean(y[valid]) == pytest.approx(0.2)
    again = fraction_split(np.zeros((100, 1)), y, 0.1, 0.2, seed=7, stratify=True)
    np.testing.assert_array_equal(again[2], test)
    with pytest.raises(
        ValueError,
        match="class 'rare' has 2 examples, but a stratified split into training, "
        "validation and test parts needs at least 3",
    ):
        fraction_split(np.zeros((12, 1)), np.array([0] * 10 + [1] * 2), 0.1, 0.2, 0, True, ["common", "rare"])


def test_standardization_is_fitted_on_the_training_part_only(cancer_csv):
    data = load_data(TrainingConfig(data=str(cancer_csv), target="diagnosis", seed=3))
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1, atol=1e-4)
    assert np.abs(data.X_test.mean(axis=0)).max() > 1e-3  # the test part was not used for the fit
    assert data.preprocessing["name"] == "standardize" and len(data.preprocessing["mean"]) == 30


# --- from the command line -----------------------------------------------------------------


def test_breast_cancer_csv_trained_from_the_command_line(cancer_run, cancer_csv):
    metrics = json.loads((cancer_run / "metrics.json").read_text())
    assert metrics["test_acc"] > 0.9 and metrics["n_test"] == 114
    log = (cancer_run / "log.txt").read_text().splitlines()
    assert log[0] == (
        f"Data: {cancer_csv}: 398 training, 57 validation, 114 test examples, 2 classes: benign, malignant"
    )
    assert log[-1] == f"Test accuracy: {metrics['test_acc'] * 100:.2f}%"
    predictor = load(cancer_run)
    assert predictor.classes == ["benign", "malignant"]
    assert predictor.preprocessing["features"][:2] == ["mean radius", "mean texture"]


def test_load_predicts_raw_csv_rows_as_training_did(cancer_run, cancer_csv):
    """The model through neuralnet.load on the CSV's raw rows of the test part: the predictions the
    training run measured (its test accuracy), bit for bit those of the network on the
    standardized rows."""
    config = TrainingConfig.from_dict(json.loads((cancer_run / "config.json").read_text())["config"])
    table = read_csv(cancer_csv, "diagnosis")
    labels, _ = labels_and_classes(table.y)
    _, _, test = fraction_split(table.X, labels, config.valid_fraction, config.test_fraction, config.seed, True)
    predictor = load(cancer_run)
    raw_rows = table.X[test]
    predicted = predictor.predict(raw_rows)
    data = load_data(config)
    np.testing.assert_array_equal(predictor.network.predict_proba(data.X_test), predictor.predict_proba(raw_rows))
    accuracy = np.mean(predicted == np.asarray(table.y)[test])
    assert accuracy == json.loads((cancer_run / "metrics.json").read_text())["test_acc"]


def test_predict_and_evaluate_on_a_csv_file(cancer_run, cancer_csv, tmp_path, capsys):
    text, count = predict_file(cancer_run, cancer_csv)
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["row", "prediction", "p(benign)", "p(malignant)"] and count == len(rows) - 1 == 569
    table = read_csv(cancer_csv, "diagnosis")
    assert [r[1] for r in rows[1:]] == list(load(cancer_run).predict(table.X))
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(cancer_run), str(cancer_csv), "--out", str(out)]) == 0
    assert out.read_bytes().decode() == text
    with pytest.raises(FileExistsError):
        predict_file(cancer_run, cancer_csv, out)
    metrics = evaluate_on(cancer_run, cancer_csv)
    assert metrics["n_test"] == 569 and metrics["classes"] == ["benign", "malignant"]
    assert metrics["test_acc"] == np.mean(load(cancer_run).predict(table.X) == table.y)
    capsys.readouterr()
    assert main(["evaluate", str(cancer_run), "--data", str(cancer_csv)]) == 0
    printed = capsys.readouterr().out
    assert "true\\pred    benign malignant" in printed and f"{metrics['test_acc'] * 100:.2f}%" in printed


def test_evaluate_on_data_with_unknown_classes_is_refused(cancer_run, cancer_csv, tmp_path):
    table = read_csv(cancer_csv, "diagnosis")
    other = write_csv(
        tmp_path / "other.csv", [*[f"c{k}" for k in range(30)], "diagnosis"], [[*row, "unsure"] for row in table.X[:5]]
    )
    with pytest.raises(DataError, match="has no column 'mean radius'"):
        predict_file(cancer_run, other)
    header = load(cancer_run).preprocessing["features"]
    other = write_csv(tmp_path / "unknown.csv", [*header, "diagnosis"], [[*row, "unsure"] for row in table.X[:5]])
    with pytest.raises(DataError, match=r"has the classes \['unsure'\], which the model does not know"):
        evaluate_on(cancer_run, other)


def test_onnx_export_of_a_table_model_standardizes_raw_rows(cancer_run, cancer_csv, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from neuralnet.serving.onnx_export import export_onnx

    path = export_onnx(cancer_run, tmp_path / "cancer.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    raw = read_csv(cancer_csv, "diagnosis").X
    theirs = session.run(["probabilities"], {"features": raw.astype(np.float32)})[0]
    ours = load(cancer_run).predict_proba(raw.astype(np.float32))
    np.testing.assert_allclose(theirs, ours, atol=1e-5)


def test_regression_from_a_csv_reports_r2_and_predicts_in_target_units(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(400, 3))
    y = 100 + 30 * X[:, 0] - 20 * X[:, 1] ** 2 + rng.normal(0, 1, 400)
    path = write_csv(tmp_path / "r.csv", ["x0", "x1", "x2", "price"], np.c_[X, y].tolist())
    run = train(
        [
            "--data",
            str(path),
            "--task",
            "regression",
            "--hidden",
            "32",
            "--activation",
            "tanh",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "--epochs",
            "60",
            "--batch-size",
            "32",
        ],
        tmp_path / "runs",
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_r2"] > 0.95
    predictions = load(run).predict(X)
    assert predictions.shape == (400,) and abs(np.mean(predictions) - np.mean(y)) < 3  # in the target's own units
    ort = pytest.importorskip("onnxruntime")
    from neuralnet.serving.onnx_export import export_onnx

    session = ort.InferenceSession(str(export_onnx(run, tmp_path / "r.onnx")), providers=["CPUExecutionProvider"])
    theirs = session.run(["predictions"], {"features": X.astype(np.float32)})[0][:, 0]
    np.testing.assert_allclose(theirs, load(run).predict(X.astype(np.float32)), rtol=1e-5, atol=1e-3)


def test_regression_needs_numeric_targets(cancer_csv, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", "--data", str(cancer_csv), "--task", "regression", "--out", str(out), "--no-progress"]) == 1
    assert "task = 'regression' needs numeric targets, but the targets are text" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("text", ["a,b,y\n1,2,0\n1,2\n", "a,b,y\n1,x,0\n", "a,b,y\n1,,0\n"])
def test_nothing_is_written_before_the_data_are_checked(tmp_path, text, capsys):
    (tmp_path / "bad.csv").write_text(text)
    out = tmp_path / "runs"
    assert main(["train", "--data", str(tmp_path / "bad.csv"), "--out", str(out), "--no-progress"]) == 1
    assert f"neuralnet train: error: {tmp_path / 'bad.csv'}, row " in capsys.readouterr().err
    assert not out.exists()


def test_moons_decision_boundary_figures(tmp_path):
    run = train(
        [
            "--dataset",
            "moons",
            "--samples",
            "600",
            "--noise",
            "0.15",
            "--hidden",
            "16",
            "--activation",
            "tanh",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "--epochs",
            "40",
            "--batch-size",
            "16",
        ],
        tmp_path / "runs",
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_acc"] > 0.95
    with Image.open(run / "figures" / "decision_boundary.png") as image:
        assert image.format == "PNG" and image.size[0] >= 400
        colours = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(colours // 32, axis=0)) > 4  # two filled regions, points, axes: not a blank figure
    with Image.open(run / "figures" / "decision_boundary.gif") as animation:
        assert animation.n_frames >= 10
    assert (
        (run / "log.txt")
        .read_text()
        .startswith(
            "Data: moons (600 points, noise 0.15): 420 training, 60 validation, 120 test examples, 2 classes: 0, 1"
        )
    )


def test_predict_an_image_folder_one_line_per_image(tmp_path):
    rng = np.random.default_rng(2)
    dark = [rng.integers(0, 60, (8, 8)).astype(np.uint8) for _ in range(30)]
    light = [rng.integers(190, 256, (8, 8)).astype(np.uint8) for _ in range(30)]
    folder = save_images(tmp_path / "imgs", {"dark": dark, "light": light})
    run = train(["--data", str(folder), "--hidden", "8", "--epochs", "30", "--batch-size", "10"], tmp_path / "runs")
    assert json.loads((run / "metrics.json").read_text())["test_acc"] == 1.0
    text, count = predict_file(run, folder)
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["file", "prediction", "probability"] and count == 60
    assert all(row[1] == row[0].split("/")[0] for row in rows[1:])


def test_mnist_digits_as_png_class_folders_train_like_the_same_images_as_arrays(tmp_path, mnist):
    """5,000 MNIST test digits written as PNGs into class folders: read back bit for bit, and
    trained from the folder they reach the accuracy of the same images from an .npz (the same
    split, the same preprocessing) and close to that of an IDX folder of them."""
    X, y = mnist
    X, y = X[60000:65000], y[60000:65000]
    folder = tmp_path / "digits"
    for k, (pixels, label) in enumerate(zip(X, y)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.reshape(28, 28)).save(folder / str(label) / f"{k:05d}.png")
    images = read_image_folder(folder)
    order = np.argsort(y, kind="stable")  # the folder is read class by class, files by name
    np.testing.assert_array_equal(images.X, X[order])
    np.savez(tmp_path / "digits.npz", X=X[order].reshape(-1, 28, 28), y=y[order])
    idx = idx_folder(tmp_path / "idx", X[:4000].reshape(-1, 28, 28), y[:4000], X[4000:].reshape(-1, 28, 28), y[4000:])
    common = ["--epochs", "5", "--batch-size", "10", "--test-fraction", "0.2"]
    from_folder = json.loads((train(["--data", str(folder), *common], tmp_path / "a") / "metrics.json").read_text())
    from_npz = json.loads(
        (train(["--data", str(tmp_path / "digits.npz"), *common], tmp_path / "b") / "metrics.json").read_text()
    )
    from_idx = json.loads((train(["--data", str(idx), *common], tmp_path / "c") / "metrics.json").read_text())
    assert from_folder["test_acc"] == from_npz["test_acc"] and from_folder["n_test"] == 1000
    assert from_idx["n_test"] == 1000
    assert from_folder["test_acc"] > 0.8 and abs(from_folder["test_acc"] - from_idx["test_acc"]) < 0.03
