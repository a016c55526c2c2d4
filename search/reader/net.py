"""The reader network (training and export only; inference runs the ONNX file without torch).

MiniLM's encoder with two heads: a relevance logit from [CLS] and start/end logits per token
(SQuAD 2.0 style, [CLS] = no answer). The span head is there because span supervision teaches
far more per example than one label per pair; at inference its "best span minus null" margin
is also a score.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModel


class ReaderNet(nn.Module):
    """Encoder + relevance head + span head, with the learnable "null" logit of the listwise
    loss (the score an unanswerable question's own passage must stay under)."""

    def __init__(self, base_path: str, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(base_path)
        width = self.encoder.config.hidden_size
        self.drop = nn.Dropout(dropout)
        self.relevance = nn.Linear(width, 1)
        self.span = nn.Linear(width, 2)
        self.null = nn.Parameter(torch.zeros(()))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(relevance (B,), start (B, T), end (B, T)) logits."""
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        hidden = self.drop(hidden)
        rel = self.relevance(hidden[:, 0]).squeeze(-1)
        start, end = self.span(hidden).unbind(-1)
        return rel, start, end

    def heads(self) -> list[nn.Parameter]:
        """The new parameters, trained at a higher learning rate than the encoder."""
        return [*self.relevance.parameters(), *self.span.parameters(), self.null]
