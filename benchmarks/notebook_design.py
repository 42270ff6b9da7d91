"""The seed notebook's model, written the way the notebook writes it, as a speed baseline.

Frames flattened to 4096 values; ``nn.LSTM(4096, 2048, num_layers=2, dropout=0.1)`` encoder; two
decoders of the same shape plus ``Linear(2048, 4096)`` and no sigmoid, run one step at a time in a
Python loop and fed their own previous output (in training too); MSE loss (mean) on the reversed
input and on the future, summed; Adam. Used only by ``bench_model.py``: videoae's ``"seed"`` preset
is the same architecture on videoae's fast path.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class NotebookDecoder(nn.Module):
    def __init__(self, frame_size: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(frame_size, hidden_size, num_layers=num_layers, dropout=dropout, batch_first=True)
        self.linear = nn.Linear(hidden_size, frame_size)

    def forward(self, state: tuple[Tensor, Tensor], num_steps: int, frame_size: int) -> Tensor:
        batch = state[0].shape[1]
        previous = state[0].new_zeros(batch, 1, frame_size)
        outputs = []
        for _ in range(num_steps):
            out, state = self.lstm(previous, state)
            previous = self.linear(out)  # (B, 1, D): fed back as the next input
            outputs.append(previous)
        return torch.cat(outputs, dim=1)


class NotebookModel(nn.Module):
    def __init__(self, frame_size: int = 4096, hidden_size: int = 2048, num_layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.frame_size = frame_size
        self.encoder = nn.LSTM(frame_size, hidden_size, num_layers=num_layers, dropout=dropout, batch_first=True)
        self.reconstructor = NotebookDecoder(frame_size, hidden_size, num_layers, dropout)
        self.predictor = NotebookDecoder(frame_size, hidden_size, num_layers, dropout)

    def forward(self, inputs: Tensor, future: Tensor) -> Tensor:
        """inputs, future: (B, T, D) flattened frames; returns the summed MSE loss."""
        _, state = self.encoder(inputs)
        reconstruction = self.reconstructor(state, inputs.shape[1], self.frame_size)
        prediction = self.predictor(state, future.shape[1], self.frame_size)
        mse = nn.functional.mse_loss
        return mse(reconstruction, inputs.flip(1)) + mse(prediction, future)
