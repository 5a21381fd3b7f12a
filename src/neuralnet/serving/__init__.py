"""Serving: trained models at rest and at work.

    files        atomic writes; safetensors with a JSON header
    modelfile    the model file format: save_model, load_model, the header's schema
    predictor    Predictor: a loaded model that takes raw images (neuralnet.load)
    onnx_export  the model as an ONNX graph, preprocessing included
    imaging      a drawing or a photo turned into the 28 x 28 image MNIST's way

The web app (``neuralnet.web``) and the command line sit on top of these.
"""

from .files import ModelFileError
from .modelfile import load_model, save_model
from .predictor import Predictor, load

__all__ = ["ModelFileError", "load_model", "save_model", "Predictor", "load"]
