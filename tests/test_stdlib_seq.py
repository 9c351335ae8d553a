"""std.transformer and std.rnn against torch.nn itself (code we did not write):
nn.TransformerEncoder / nn.TransformerEncoderLayer, and a classifier built
from nn.Embedding, nn.LSTM and nn.Linear. The torch module's random weights
(every parameter perturbed, so LayerNorm is not the identity) are saved with
safetensors and bound with strict `--weights`; the compiled model runs on
onnxruntime at two sequence lengths (T is symbolic: one model per
configuration, compiled per run).

torch's encoder is built with `enable_nested_tensor=False`: with nested
tensors, eval mode skips padded positions and returns zeros there, where
nnd (like torch's own path without them) computes every position. Its
fused fast path (`_transformer_encoder_layer_fwd`) may still run; it computes
the same function.
"""

from __future__ import annotations

import pytest

from torch_harness import TORCH_REASON, assert_matches_torch

torch = pytest.importorskip("torch", reason=TORCH_REASON)
pytest.importorskip("safetensors", reason="safetensors is a test extra: pip install -e '.[test]'")
nn = torch.nn

D, H, FF = 32, 4, 64


def perturb(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return m


class MaskedEncoder(nn.TransformerEncoder):
    def forward(self, x, pad):
        return super().forward(x, src_key_padding_mask=pad)


def torch_encoder(norm_first, final_norm, activation="gelu", batch_first=True, masked=False, layers=2):
    layer = nn.TransformerEncoderLayer(D, H, FF, dropout=0.1, activation=activation, batch_first=batch_first,
                                       norm_first=norm_first)
    cls = MaskedEncoder if masked else nn.TransformerEncoder
    enc = cls(layer, layers, norm=nn.LayerNorm(D) if final_norm else None, enable_nested_tensor=False)
    return perturb(enc).eval()


def _source(tmp_path, text):
    path = tmp_path / "m.nnd"
    path.write_text(text)
    return str(path)


def _model(name, norm_first, final_norm, act="GELU"):
    return (f"import std.transformer\nmodel M = {name}(d_model = {D}, nhead = {H}, num_layers = 2, "
            f"dim_feedforward = {FF}, activation = {act}, norm_first = {str(norm_first).lower()}, "
            f"final_norm = {str(final_norm).lower()})\n")


@pytest.mark.parametrize("norm_first,final_norm", [(False, False), (True, True)])
@pytest.mark.parametrize("T", [5, 11])
def test_transformer_encoder_equals_torch(tmp_path, norm_first, final_norm, T):
    torch.manual_seed(0)
    src = _source(tmp_path, _model("TransformerEncoder", norm_first, final_norm))
    assert_matches_torch(src, "M", torch_encoder(norm_first, final_norm), [[2, T, D]], tmp_path)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("T", [6, 9])
def test_masked_transformer_encoder_equals_torch(tmp_path, norm_first, T):
    torch.manual_seed(1)
    src = _source(tmp_path, _model("MaskedTransformerEncoder", norm_first, False, act="ReLU"))
    tm = torch_encoder(norm_first, False, activation="relu", masked=True)
    # masks a quarter of the positions at random (seeded: no row is all padding)
    assert_matches_torch(src, "M", tm, [[3, T, D], [3, T]], tmp_path, input_dtypes=["float32", "bool"])


def test_encoder_layers_sequence_first_equal_torch(tmp_path):
    """The block with `batch_first = false`: [T, N, E], as torch's default."""
    text = ("import std.transformer\nmodel M {\n    input x: [T, N, 32]\n"
            f"    output y = x -> (TransformerEncoderLayer({D}, {H}, {FF}, activation = GELU) * 2) as layers\n}}\n")
    torch.manual_seed(2)
    tm = torch_encoder(False, False, batch_first=False)
    assert_matches_torch(_source(tmp_path, text), "M", tm, [[7, 2, D]], tmp_path)


class LSTMClassifier(nn.Module):
    """The usual torch text classifier: the last layer's final states of both directions."""

    def __init__(self, vocab, classes, embed=128, hidden=256):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, ids):
        _, (h, _) = self.lstm(self.embedding(ids))
        return self.fc(torch.cat([h[-2], h[-1]], dim=1))


@pytest.mark.parametrize("T", [4, 13])
def test_lstm_classifier_equals_torch(tmp_path, T):
    torch.manual_seed(3)
    tm = perturb(LSTMClassifier(100, 3)).eval()
    src = _source(tmp_path, "import std.rnn\nmodel M = LSTMClassifier(vocab = 100, classes = 3)\n")
    assert_matches_torch(src, "M", tm, [[2, T]], tmp_path, input_dtypes=["int64"], high=100)
