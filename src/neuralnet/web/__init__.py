"""The browser app: draw a digit and watch the network answer (``neuralnet serve``).

Thin over the library: ``neuralnet.imaging`` prepares images, ``neuralnet.io`` predicts,
``neuralnet.runs`` provides the run's metrics, history and figures. Needs the ``web``
extra (FastAPI, uvicorn, python-multipart, Pillow).
"""

from .app import MAX_UPLOAD_BYTES, create_app

__all__ = ["create_app", "MAX_UPLOAD_BYTES"]
