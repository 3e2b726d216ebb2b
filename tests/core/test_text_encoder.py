from pathlib import Path

import numpy as np
import pytest

from core.text_encoder import EncoderError, OnnxSentenceEncoder
from tests.corpus import captions


def test_onnx_embeddings_match_sentence_transformers(encoder_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from indexing.encoder_export import default_encoder_path

    sentences = [*captions(300), "", "x" * 3000, "Ünïcödé façade — 東京の夜景", "DROP TABLE images; --"]
    reference = SentenceTransformer(str(default_encoder_path()), device="cpu").encode(
        sentences, batch_size=64, convert_to_numpy=True
    )
    ours = OnnxSentenceEncoder(encoder_dir).encode(sentences)
    assert ours.shape == (len(sentences), 384)
    cosine = (ours * reference).sum(axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert cosine.min() > 0.999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)


def test_batches_do_not_change_embeddings(encoder_dir: Path) -> None:
    encoder = OnnxSentenceEncoder(encoder_dir)
    sentences = captions(40)
    np.testing.assert_allclose(encoder.encode(sentences, batch_size=7), encoder.encode(sentences), atol=1e-5)


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "encoder.json").write_text('{"dim": 4, "pooling": "mean", "max_seq_length": 8}')
    with pytest.raises(EncoderError, match=r"has no model.onnx"):
        OnnxSentenceEncoder(tmp_path)


def test_a_single_string_is_refused(encoder_dir: Path) -> None:
    with pytest.raises(TypeError, match="not a single string"):
        OnnxSentenceEncoder(encoder_dir).encode("a dog")  # a str is a Sequence[str] to the type checker
