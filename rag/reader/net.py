"""The reader's network (torch; training and export only): a MiniLM encoder with two heads.

- relevance: one logit per (question, sentence) from the mean-pooled tokens and the word-overlap feature;
- span: a start and an end logit per token (the answer's first and last token in the sentence).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class ReaderNet(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.relevance = nn.Linear(hidden + 1, 1)
        self.span = nn.Linear(hidden, 2)

    @classmethod
    def from_base(cls, base: str | Path) -> ReaderNet:
        from transformers import AutoModel

        return cls(AutoModel.from_pretrained(str(base)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor,
                overlap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(relevance [rows], start [rows, length], end [rows, length]) logits."""
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        relevance = self.relevance(torch.cat([pooled, overlap.unsqueeze(-1)], dim=-1)).squeeze(-1)
        start, end = self.span(states).unbind(-1)
        return relevance, start, end


def export_onnx(net: ReaderNet, path: Path, quantize: bool = True) -> None:
    """Write ``net`` as ONNX to ``path`` (int8 dynamic quantization of the linear layers when ``quantize``, a scale
    per output channel: version 4's weights on the held-out weeks, ``python -m bench.reader_eval``, top-1 / span F1
    0.571 / 0.563 in fp32 (90 MB, 77 ms for 10 sentences), 0.550 / 0.520 with one scale per tensor, 0.561 / 0.542
    per channel (23 MB, 41 ms both). Leaving the heads or the last layer in fp32 gained nothing more)."""
    net.eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids), torch.zeros(2))
    raw = path.with_suffix(".fp32.onnx") if quantize else path
    axes = {"input_ids": {0: "rows", 1: "length"}, "attention_mask": {0: "rows", 1: "length"},
            "token_type_ids": {0: "rows", 1: "length"}, "overlap": {0: "rows"}, "relevance": {0: "rows"},
            "start": {0: "rows", 1: "length"}, "end": {0: "rows", 1: "length"}}
    with torch.no_grad():
        torch.onnx.export(net, args, str(raw), input_names=["input_ids", "attention_mask", "token_type_ids",
                                                            "overlap"],
                          output_names=["relevance", "start", "end"], dynamic_axes=axes, opset_version=17,
                          dynamo=False)
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(raw), str(path), weight_type=QuantType.QInt8, per_channel=True)
        raw.unlink()


def reexport(directory: Path, base: Path) -> None:
    """Export the weights a training run saved (``directory/model.pt``) again, as :func:`export_onnx` does now, into
    ``directory/model.onnx``; calibrate it afterwards (``python -m rag.reader.calibrate --model DIR``)."""
    net = ReaderNet.from_base(base)
    net.load_state_dict(torch.load(directory / "model.pt", map_location="cpu"))
    export_onnx(net, directory / "model.onnx")


if __name__ == "__main__":
    import argparse

    from rag.reader.train import default_base

    parser = argparse.ArgumentParser(description="Export a trained reader's model.pt to int8 ONNX again (its "
                                                 "model.onnx is replaced); then recalibrate it with "
                                                 "python -m rag.reader.calibrate --model DIR.")
    parser.add_argument("directory", type=Path, help="a train-reader --out directory (holds model.pt)")
    args = parser.parse_args()
    reexport(args.directory, default_base())
    print(f"exported {args.directory / 'model.onnx'}")
