"""notebooks/chapter11.ipynb runs top to bottom (on a subset) and shows what it promises.

The notebook runs in a Jupyter kernel started by nbclient. The kernel must be this test's
own interpreter, the one where ``neuralnet`` is installed, whatever kernels the machine
has registered: the test writes a kernel spec named "python3" whose command is
``sys.executable -m ipykernel_launcher`` into a temporary folder and gives nbclient a
kernel manager that looks only there. So ``pip install -e ".[test]"`` (which brings
nbclient, nbformat and ipykernel) is all CI needs; no ``ipykernel install`` step.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from ipykernel.kernelspec import write_kernel_spec  # noqa: E402
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "chapter11.ipynb"
LIMIT, EPOCHS = 1400, 2  # 1,100 / 100 / 200 images: the whole notebook runs in seconds


def _this_interpreters_kernel(folder: Path) -> KernelManager:
    """A kernel manager whose only "python3" kernel runs sys.executable."""
    write_kernel_spec(path=folder / "python3")
    specs = KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    assert manager.kernel_spec.argv[0] == sys.executable
    return manager


def _text(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out["output_type"] == "stream")


def _images(cell) -> int:
    return sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.fixture(scope="module")
def executed(tmp_path_factory, data_dir):
    """The notebook, executed in a fresh kernel on a subset of MNIST."""
    work = tmp_path_factory.mktemp("notebook")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    mp = pytest.MonkeyPatch()
    # the kernel inherits this environment: the data folder and the notebook's parameters
    mp.setenv("NEURALNET_DATA_DIR", str(data_dir))
    mp.setenv("NEURALNET_NOTEBOOK_LIMIT", str(LIMIT))
    mp.setenv("NEURALNET_NOTEBOOK_EPOCHS", str(EPOCHS))
    try:
        client = nbclient.NotebookClient(
            notebook,
            km=_this_interpreters_kernel(work / "kernels"),
            timeout=180,
            resources={"metadata": {"path": str(work)}},
        )
        client.execute()  # raises CellExecutionError, with the failing cell, if any cell fails
    finally:
        mp.undo()
    return notebook


def test_notebook_runs_top_to_bottom(executed):
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    for cell in code:
        assert cell.execution_count is not None
        assert not [out for out in cell.outputs if out["output_type"] == "error"]
    text = "\n".join(_text(cell) for cell in code)
    assert f"images: {LIMIT}, epochs: {EPOCHS}" in text  # the parameter cell read the environment
    assert "(70000, 784)\n(70000,)" in text
    assert "train: (1100, 784) (1100,)" in text and "test:  (200, 784) (200,)" in text


def test_notebook_prints_the_shapes_of_one_forward_and_backward_pass(executed):
    text = "\n".join(_text(cell) for cell in executed.cells if cell.cell_type == "code")
    assert "a_h   [n_examples, n_hidden]:   (100, 50)" in text
    assert "a_out [n_examples, n_classes]:  (100, 10)" in text
    assert "d_loss__dw_h    (50, 784)  = shape of weight_h (50, 784)" in text
    assert "d_loss__dw_out  (10, 50)   = shape of weight_out (10, 50)" in text


def test_notebook_trains_and_reports_the_test_accuracy(executed):
    text = "\n".join(_text(cell) for cell in executed.cells if cell.cell_type == "code")
    assert re.search(r"Initial valid accuracy: \d+\.\d%", text)
    epochs = re.findall(
        r"^Epoch: (\d{3})/(\d{3}) \| Train MSE: [\d.]+ \| Train Acc: [\d.]+% \| Valid Acc: [\d.]+%$",
        text,
        flags=re.MULTILINE,
    )
    assert epochs == [("001", "002"), ("002", "002")]
    match = re.search(r"^Test accuracy: (\d+\.\d\d)%$", text, flags=re.MULTILINE)
    assert match and 0.0 <= float(match.group(1)) <= 100.0
    assert re.search(r"^\d+ of the first 200 test images are misclassified$", text, flags=re.MULTILINE)


def test_notebook_shows_the_chapters_figures_inline(executed):
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    figures = [cell for cell in code if _images(cell)]
    # 11.4, 11.5, 11.7, 11.8, 11.9, in the chapter's order
    assert len(figures) == 5
    sources = [cell.source for cell in figures]
    for name, source in zip(
        ["plot_digits_per_class", "plot_digit_variants", "plot_loss", "plot_accuracy", "plot_misclassified"], sources
    ):
        assert name in source


def test_notebook_walks_through_one_training_step(executed):
    text = "\n".join(_text(cell) for cell in executed.cells if cell.cell_type == "code")
    assert "2 inputs -> 3 hidden units (sigmoid) -> 2 outputs (sigmoid), loss: mse" in text
    assert "delta^(out) = dL/da^(out) * a^(out) (1 - a^(out))" in text
    assert "backpropagation and finite differences agree" in text
