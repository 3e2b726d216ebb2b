"""Sentence embeddings with ONNX Runtime: the query path's encoder, free of torch and transformers.

The folder it loads holds what ``encoder_export.export_sentence_encoder`` writes: ``model.onnx``
(the transformer, returning token embeddings), ``tokenizer.json`` and ``encoder.json`` (pooling mode,
normalisation, sequence length, dimension). Pooling and normalisation are done here in numpy, exactly
as sentence-transformers does them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.vocabulary import Vocabulary

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "encoder.json"


class EncoderError(Exception):
    """The encoder folder is missing a file or describes a model this code cannot run."""


class OnnxSentenceEncoder:
    """Encode sentences into unit-length vectors of size ``dim``."""

    def __init__(self, folder: Path, *, threads: int | None = None, spin: bool = True) -> None:
        """``spin=False`` stops idle ONNX Runtime threads from busy-waiting between calls: the indexer
        alternates them with torch, which would otherwise lose the cores to the spinning threads."""
        import onnxruntime
        import tokenizers

        for name in (MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE):
            if not (folder / name).is_file():
                raise EncoderError(f"encoder folder {folder} has no {name}")
        self.config: dict[str, Any] = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        if self.config.get("pooling") not in ("mean", "cls"):
            raise EncoderError(
                f"unsupported pooling {self.config.get('pooling')!r} in {folder / CONFIG_FILE}"
            )
        self.dim = int(self.config["dim"])
        self.max_seq_length = int(self.config["max_seq_length"])

        self._tokenizer = tokenizers.Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._tokenizer.enable_truncation(max_length=self.max_seq_length)
        self._tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {node.name for node in self._session.get_inputs()}

    def vocabulary(self) -> Vocabulary:
        """The whole words this encoder's tokenizer knows (the answer gate's language check)."""
        return Vocabulary(self._tokenizer)

    def encode(self, sentences: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Return float32 embeddings of shape (len(sentences), dim), L2-normalised if the model is."""
        if isinstance(sentences, str):
            raise TypeError("encode() takes a sequence of sentences, not a single string")
        chunks = [
            self._encode_batch(sentences[start : start + batch_size])
            for start in range(0, len(sentences), batch_size)
        ]
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(chunks)

    def _encode_batch(self, sentences: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(sentences))
        longest = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), longest), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        tokens = self._session.run(None, feeds)[0]  # (B, T, D)
        if self.config["pooling"] == "cls":
            pooled = tokens[:, 0]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)  # (B, D)
        if self.config.get("normalize", False):
            pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.astype(np.float32)
