"""Shared by the tests: multilayer perceptrons described by their sizes, as stacks of layer specs.

``MLP(n_features, hidden, n_outputs, ...)`` names a multilayer perceptron the way the tests
think of one; ``build_mlp(mlp, random_seed)`` makes it with the library's own pieces: the stack
``neuralnet.runs.builder.mlp_specs`` generates, built by ``neuralnet.engine.build_network``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from neuralnet.engine.losses import get_loss
from neuralnet.engine.network import Network, build_network
from neuralnet.runs.builder import mlp_specs

#: files written by neuralnet 0.1 (tests/fixtures/legacy/make_legacy_fixtures.py says how)
LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy"


@dataclass
class MLP:
    n_features: int
    hidden: list[int]
    n_outputs: int
    activation: str = "sigmoid"
    output_activation: str | None = None  # None: the loss's own (sigmoid for mse)
    loss: str = "mse"
    init: str = "normal"
    dropout: float = 0.0
    shift: int = 0
    dtype: str = "float32"
    extra: dict = field(default_factory=dict)

    def specs(self) -> list[dict]:
        output = self.output_activation or get_loss(self.loss).output_activation
        return mlp_specs(
            self.n_features,
            list(self.hidden),
            self.n_outputs,
            activation=self.activation,
            output=output,
            init=self.init,
            dropout=self.dropout,
            shift=self.shift,
        )


def build_mlp(mlp: MLP, random_seed: int | None = 123) -> Network:
    return build_network(mlp.specs(), (mlp.n_features,), mlp.loss, mlp.dtype, seed=random_seed)


def same_blas_as_the_legacy_fixtures() -> bool:
    """Bit-identical weights across versions are only promised on the BLAS (and core type) the
    reference hashes were made with: other kernels round products differently."""
    import scipy.linalg.blas  # noqa: F401  (loads the BLAS the optimizers use)
    from threadpoolctl import threadpool_info

    recorded = {
        (blas["internal_api"], blas["version"], blas["architecture"])
        for blas in json.loads((LEGACY / "reference_weights.json").read_text())["blas"]
    }
    found = {
        (info.get("internal_api"), info.get("version"), info.get("architecture"))
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    }
    return found == recorded
