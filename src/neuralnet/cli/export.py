"""``neuralnet export RUN --onnx FILE`` / ``--torch FILE``: a trained model as ONNX or as a PyTorch program."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    """Add the ``export`` subcommand, its options and its ``run``, to the ``neuralnet`` parser's subparsers."""
    parser = subparsers.add_parser(
        "export",
        help="export a trained model to ONNX or PyTorch",
        description="Write the model of a run folder (or of a .safetensors model file) as an ONNX graph "
        "that takes raw pixels, input 'pixels' float32 (N, 784) with values 0 to 255 (a table's "
        "model: input 'features', the raw feature values), applies the model's preprocessing and "
        "returns the class probabilities, output 'probabilities' float32 (N, classes), as "
        "`neuralnet.load(RUN).predict_proba` does (a regression's model: output 'predictions', "
        "the targets in their own units, as `predict` does).",
    )
    parser.add_argument("run_folder", metavar="RUN", help="a run folder written by `neuralnet train`, or a model file")
    parser.add_argument("--onnx", metavar="FILE", help="the ONNX file to write, e.g. model.onnx")
    parser.add_argument(
        "--torch",
        metavar="FILE",
        help="write the network as a PyTorch program (torch.export, e.g. model.pt2) with the same "
        "weights: load it with torch.export.load(FILE).module(); it takes the preprocessed "
        "inputs and gives the network's outputs (needs torch)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace FILE if it exists (by default it is kept)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the model of ``args.run_folder`` as ONNX and/or a PyTorch program; the exit status."""
    from ..serving.modelfile import load_model
    from . import UsageError

    if args.onnx is None and args.torch is None:
        raise UsageError("give --onnx FILE, --torch FILE or both")
    network, header = load_model(args.run_folder)
    if args.onnx is not None:
        from ..serving.onnx_export import export_onnx, onnx_names

        path = export_onnx(args.run_folder, args.onnx, overwrite=args.overwrite)
        input_name, output_name = onnx_names(header)
        print(
            f"ONNX model written to {path}: input '{input_name}' float32 (N, {network.n_features}), "
            f"output '{output_name}' float32 (N, {network.n_outputs})"
        )
    if args.torch is not None:
        from ..serving.torch_export import export_torch

        path = export_torch(network, args.torch, overwrite=args.overwrite)
        print(
            f"PyTorch program written to {path}: torch.export.load({str(path)!r}).module() takes "
            f"[N, {', '.join(map(str, network.input_shape))}] preprocessed inputs and gives the "
            f"{network.n_outputs} outputs"
        )
    return 0
