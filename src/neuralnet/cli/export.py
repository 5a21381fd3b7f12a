"""``neuralnet export RUN --onnx FILE``: a trained model as a self-contained ONNX file."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a trained model to ONNX",
        description="Write the model of a run folder (or of a .safetensors model file) as an ONNX graph "
                    "that takes raw pixels, input 'pixels' float32 (N, 784) with values 0 to 255 (a table's "
                    "model: input 'features', the raw feature values), applies the model's preprocessing and "
                    "returns the class probabilities, output 'probabilities' float32 (N, classes), as "
                    "`neuralnet.load(RUN).predict_proba` does (a regression's model: output 'predictions', "
                    "the targets in their own units, as `predict` does).")
    parser.add_argument("run_folder", metavar="RUN", help="a run folder written by `neuralnet train`, or a model file")
    parser.add_argument("--onnx", metavar="FILE", required=True, help="the ONNX file to write, e.g. model.onnx")
    parser.add_argument("--overwrite", action="store_true", help="replace FILE if it exists (by default it is kept)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..serving.modelfile import load_model
    from ..serving.onnx_export import export_onnx, onnx_names

    path = export_onnx(args.run_folder, args.onnx, overwrite=args.overwrite)
    network, header = load_model(args.run_folder)
    input_name, output_name = onnx_names(header)
    print(f"ONNX model written to {path}: input '{input_name}' float32 (N, {network.n_features}), "
          f"output '{output_name}' float32 (N, {network.n_outputs})")
    return 0
