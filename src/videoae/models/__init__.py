"""The Srivastava et al. model family: LSTM layers, encoder, decoders, composite model, presets."""

from videoae.models.composite import CompositeModel, Decoder, build_model, evaluation_mode, model_device
from videoae.models.config import PRESETS, ModelConfig, preset
from videoae.models.lstm import LSTMLayer, LSTMStack

__all__ = [
    "CompositeModel",
    "Decoder",
    "evaluation_mode",
    "model_device",
    "LSTMLayer",
    "LSTMStack",
    "ModelConfig",
    "PRESETS",
    "build_model",
    "preset",
]
