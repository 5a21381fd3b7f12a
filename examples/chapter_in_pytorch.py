"""The chapter's network, trained by neuralnet, goes on training in PyTorch (the book's next chapter).

    neuralnet train                                   # the chapter's run: runs/<timestamp>/
    python examples/chapter_in_pytorch.py runs/<timestamp> --data-dir ../shared/data

``neuralnet.to_torch`` gives the run's network as a ``torch.nn.Sequential`` (Linear, Sigmoid,
Linear, Sigmoid) with the same weights; five more epochs of the chapter's loop in PyTorch follow.
Needs torch: pip install 'neuralnet-from-scratch[torch]'.
"""

import argparse

import torch

import neuralnet
from neuralnet.runs.data import load_data
from neuralnet.runs.folders import RunFolder

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("run", help="a run folder of the chapter's network")
parser.add_argument("--data-dir", default=None, help="the folder of the MNIST files")
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()

model = neuralnet.to_torch(args.run).train()
print(model)
data = load_data(RunFolder(args.run).config(), args.data_dir)  # the run's own split, pixels in [-1, 1]
X, X_test = torch.from_numpy(data.X_train), torch.from_numpy(data.X_test)
Y = torch.nn.functional.one_hot(torch.from_numpy(data.y_train), len(data.class_names)).float()


def test_accuracy() -> float:
    with torch.no_grad():
        return float((model.eval()(X_test).argmax(1).numpy() == data.y_test).mean())


print(f"test accuracy from neuralnet: {test_accuracy():.2%}")
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # the chapter's learning rate
torch.manual_seed(0)
model.train()
for _epoch in range(args.epochs):  # the chapter's loop: shuffled mini-batches of 100, its MSE
    for batch in torch.randperm(len(X)).split(100):
        optimizer.zero_grad()
        loss = ((model(X[batch]) - Y[batch]) ** 2).sum(dim=1).mean()
        loss.backward()
        optimizer.step()
print(f"test accuracy after {args.epochs} more epochs in PyTorch: {test_accuracy():.2%}")
