"""videoae: LSTM autoencoders that learn video representations (Srivastava et al., ICML 2015)."""

__version__ = "0.1.0"
