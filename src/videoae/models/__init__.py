"""The Srivastava et al. model family: LSTM layers, encoder, decoders, composite model, presets."""

from videoae.models.composite import CompositeModel, Decoder, build_model
from videoae.models.config import PRESETS, ModelConfig, preset
from videoae.models.lstm import LSTMLayer, LSTMStack

__all__ = ["CompositeModel", "Decoder", "LSTMLayer", "LSTMStack", "ModelConfig", "PRESETS", "build_model", "preset"]
