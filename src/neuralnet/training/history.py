"""The training history: one row per epoch, written as CSV and JSON, and the chapter's log line."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HISTORY_COLUMNS", "History", "format_chapter_line"]

HISTORY_COLUMNS = (
    "epoch",
    "lr",
    "train_loss",
    "train_mse",
    "train_acc",
    "valid_loss",
    "valid_mse",
    "valid_acc",
    "seconds",
)


@dataclass
class History:
    """One row per epoch: epoch, lr, train/valid loss, mse and accuracy, seconds."""

    rows: list[dict] = field(default_factory=list)

    def append(self, row: dict) -> None:
        """Add a copy of ``row``."""
        self.rows.append(dict(row))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, column: str) -> list:
        return [row.get(column) for row in self.rows]

    def json_text(self) -> str:
        """The rows as an indented JSON list (NaN for the sets that were not evaluated)."""
        return json.dumps(self.rows, indent=1, allow_nan=True) + "\n"

    def csv_text(self) -> str:
        """The rows as CSV with the ``HISTORY_COLUMNS`` (other keys left out)."""
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=list(HISTORY_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()

    def to_json(self, path: str | Path) -> None:
        """Write ``json_text()`` to ``path``."""
        Path(path).write_text(self.json_text())

    def to_csv(self, path: str | Path) -> None:
        """Write ``csv_text()`` to ``path``."""
        Path(path).write_text(self.csv_text(), newline="")

    @classmethod
    def from_json(cls, path: str | Path) -> History:
        """The history ``to_json`` wrote; a ValueError if the file does not hold a list of rows."""
        rows = json.loads(Path(path).read_text())
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path} does not hold a training history (a list of rows)")
        return cls(rows)


def format_chapter_line(row: dict, epochs: int) -> str:
    """The chapter's log line: ``Epoch: 001/050 | Train MSE: 0.05 | Train Acc: 76.17% | ...``."""
    return (
        f"Epoch: {row['epoch']:03d}/{epochs:03d} "
        f"| Train MSE: {row['train_mse']:.2f} "
        f"| Train Acc: {row['train_acc'] * 100:.2f}% "
        f"| Valid Acc: {row['valid_acc'] * 100:.2f}%"
    )
