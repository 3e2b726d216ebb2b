from __future__ import annotations

import itertools

import pytest
import torch

from training.beam import beam_search
from training.model import Decoder, ModelConfig
from training.vocab import END_ID, PAD_ID, START_ID, UNK_ID


def decoder(seed: int = 0) -> Decoder:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        vocab_size=12,
        backbone="tiny",
        pretrained=False,
        grid_size=2,
        embed_dim=8,
        attention_dim=8,
        decoder_dim=16,
        dropout=0.0,
    )
    dec = Decoder(cfg).eval()
    with torch.no_grad():
        dec.out.bias[END_ID] -= 1.0  # make captions a few words long
    return dec


def greedy(dec: Decoder, feats: torch.Tensor, max_length: int) -> list[int]:
    projected = dec.attention.project(feats)
    h, c = dec.init_state(feats)
    prev, out = torch.tensor([START_ID]), []
    for _ in range(max_length):
        logits, _, h, c = dec.step(feats, projected, prev, h, c)
        logits[:, [PAD_ID, START_ID, UNK_ID]] = float("-inf")
        logits[0, int(prev)] = float("-inf")  # no word right after itself
        prev = logits.argmax(1)
        if int(prev) == END_ID:
            break
        out.append(int(prev))
    return out


def test_beam_one_is_greedy() -> None:
    dec = decoder()
    feats = torch.randn(4, 4, 64)
    result = beam_search(dec, feats, beam_size=1, max_length=8)
    for i in range(4):
        n = int(result.lengths[i])
        assert result.tokens[i, :n].tolist() == greedy(dec, feats[i : i + 1], 8)


@pytest.mark.parametrize("beam", [1, 3, 5])
def test_batched_equals_one_by_one(beam: int) -> None:
    dec = decoder(1)
    feats = torch.randn(5, 4, 64)
    batch = beam_search(dec, feats, beam_size=beam, max_length=10)
    for i in range(5):
        single = beam_search(dec, feats[i : i + 1], beam_size=beam, max_length=10)
        n = int(single.lengths[0])
        assert int(batch.lengths[i]) == n
        assert batch.tokens[i, :n].tolist() == single.tokens[0, :n].tolist()
        assert float(batch.scores[i]) == pytest.approx(float(single.scores[0]), abs=1e-5)


def test_max_length_padding_and_attention_shape() -> None:
    dec = decoder(2)
    with torch.no_grad():
        dec.out.bias[END_ID] -= 100.0  # never wants to stop
    result = beam_search(dec, torch.randn(3, 4, 64), beam_size=2, max_length=4)
    assert result.lengths.tolist() == [4, 4, 4]
    assert (result.tokens[:, 4] == END_ID).all()
    assert result.alphas.shape[0] == 3 and result.alphas.shape[2] == 4
    assert torch.allclose(result.alphas[:, :4].sum(-1), torch.ones(3, 4), atol=1e-5)


def test_bad_arguments() -> None:
    dec = decoder()
    with pytest.raises(ValueError, match="beam_size must be >= 1"):
        beam_search(dec, torch.randn(1, 4, 64), beam_size=0)
    with pytest.raises(ValueError, match="must not exceed the vocabulary size"):
        beam_search(dec, torch.randn(1, 4, 64), beam_size=13)


def test_unknown_and_special_tokens_are_never_emitted() -> None:
    dec = decoder(3)
    with torch.no_grad():
        dec.out.bias[UNK_ID] += 100.0  # the model would love to say <unk>
        dec.out.bias[PAD_ID] += 50.0
    result = beam_search(dec, torch.randn(4, 4, 64), beam_size=3, max_length=6)
    for row, n in zip(result.tokens, result.lengths, strict=True):
        assert not set(row[: int(n)].tolist()) & {UNK_ID, PAD_ID, START_ID}


def test_a_word_never_follows_itself_unless_allowed() -> None:
    dec = decoder(4)
    word = 7
    with torch.no_grad():
        dec.out.bias[word] += 100.0  # the model would say this word at every step
    feats = torch.randn(4, 4, 64)
    for beam in (1, 3):
        result = beam_search(dec, feats, beam_size=beam, max_length=6)
        for row, n in zip(result.tokens, result.lengths, strict=True):
            words = row[: int(n)].tolist()
            assert word in words
            assert all(a != b for a, b in itertools.pairwise(words)), words
        looping = beam_search(dec, feats, beam_size=beam, max_length=6, ban_repeats=False)
        assert looping.tokens[0, :3].tolist() == [word, word, word]


def test_every_hypothesis_is_returned_and_the_best_is_the_caption() -> None:
    dec = decoder(seed=3)
    feats = torch.randn(4, 4, 64)
    out = beam_search(dec, feats, beam_size=5, max_length=8)
    assert out.all_tokens.shape[:2] == (4, 5)
    assert out.all_lengths.shape == out.all_scores.shape == (4, 5)
    best = out.all_scores.argmax(dim=1)
    rows = torch.arange(4)
    assert torch.equal(out.all_tokens[rows, best], out.tokens)
    assert torch.equal(out.all_lengths[rows, best], out.lengths)
    assert torch.allclose(out.all_scores.max(dim=1).values, out.scores)
    # Hypotheses are padded after their last word, like the best caption.
    positions = torch.arange(out.all_tokens.size(2))
    after = positions.view(1, 1, -1) > out.all_lengths.unsqueeze(2)
    assert bool((out.all_tokens[after] == PAD_ID).all())
    # Distinct hypotheses: a beam of 5 over a 12-word vocabulary holds more than one caption.
    assert len({tuple(t.tolist()) for t in out.all_tokens[0]}) > 1
