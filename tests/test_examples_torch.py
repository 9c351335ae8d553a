"""The sequence, attention and dynamic-size examples against PyTorch
counterparts written here from torch.nn building blocks (nn.MultiheadAttention,
nn.TransformerEncoder, nn.LSTM, nn.Embedding, F.interpolate), with the same
weights through strict binding (tests/torch_harness.py); every output within
max relative error 1e-4."""

from __future__ import annotations

import os

import pytest

from torch_harness import TORCH_REASON, assert_matches_torch

torch = pytest.importorskip("torch", reason=TORCH_REASON)
pytest.importorskip("safetensors", reason="safetensors is a test extra: pip install -e '.[test]'")
nn, F = torch.nn, torch.nn.functional

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def example(name):
    return os.path.join(EXAMPLES, name + ".nnd")


def perturb(m, seed=0):
    """Every parameter moved off its initialization (zero class tokens, unit LayerNorms)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return m.eval()


class ViTBlock(nn.Module):
    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(mlp_dim, dim))

    def forward(self, x):
        y = self.ln_1(x)
        h = x + self.self_attention(y, y, y, need_weights=False)[0]
        return h + self.mlp(self.ln_2(h))


class ViT(nn.Module):
    def __init__(self, size=32, patch=8, dim=64, depth=4, heads=4, mlp_dim=128, classes=10):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, dim) * 0.02)
        self.layers = nn.Sequential(*[ViTBlock(dim, heads, mlp_dim) for _ in range(depth)])
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, image):
        x = self.conv_proj(image).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        return self.head(self.ln(self.layers(x))[:, 0])


class TextTransformer(nn.Module):
    def __init__(self, vocab=1000, max_len=64, dim=64, heads=4, depth=2, ff=128, classes=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.pos_embedding = nn.Parameter(torch.randn(1, max_len, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, ff, activation="gelu", batch_first=True)
        # without nested tensors, padded positions are computed as nnd does (only token 0 is read anyway)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, ids, pad):
        x = self.embed(ids) + self.pos_embedding[:, :ids.shape[1]]
        return self.head(self.encoder(x, src_key_padding_mask=pad)[:, 0])


class LSTMTagger(nn.Module):
    def __init__(self, vocab=500, embed=32, hidden=64, classes=5):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, ids):
        out, _ = self.lstm(self.embedding(ids))
        return self.fc(out[:, -1])


class Tower(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32, dim)

    def forward(self, x):
        f = F.relu(self.conv2(F.max_pool2d(F.relu(self.conv1(x)), 2)))
        return self.fc(f.mean(dim=(2, 3)))


class Siamese(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.tower = Tower(dim)     # one module, called twice

    def forward(self, left, right):
        d = self.tower(left) - self.tower(right)
        return (d * d).sum(dim=1).sqrt()


class FPN(nn.Module):
    def __init__(self, channels=32):
        super().__init__()
        self.body = nn.ModuleList([nn.Conv2d(3, 16, 3, 2, 1), nn.Conv2d(16, 32, 3, 2, 1), nn.Conv2d(32, 64, 3, 2, 1)])
        self.inner_blocks = nn.ModuleList([nn.Conv2d(c, channels, 1) for c in (16, 32, 64)])
        self.layer_blocks = nn.ModuleList([nn.Conv2d(channels, channels, 3, padding=1) for _ in range(3)])

    def forward(self, image):
        c2 = F.relu(self.body[0](image))
        c3 = F.relu(self.body[1](c2))
        c4 = F.relu(self.body[2](c3))
        t4 = self.inner_blocks[2](c4)
        lateral3 = self.inner_blocks[1](c3)
        t3 = lateral3 + F.interpolate(t4, size=lateral3.shape[-2:], mode="nearest")
        lateral2 = self.inner_blocks[0](c2)
        t2 = lateral2 + F.interpolate(t3, size=lateral2.shape[-2:], mode="nearest")
        return self.layer_blocks[0](t2), self.layer_blocks[1](t3), self.layer_blocks[2](t4)


def test_vit_equals_torch(tmp_path):
    torch.manual_seed(0)
    assert_matches_torch(example("vit"), None, perturb(ViT()), [[2, 3, 32, 32]], tmp_path)


@pytest.mark.parametrize("T", [7, 12])
def test_text_transformer_with_a_padding_mask_equals_torch(tmp_path, T):
    torch.manual_seed(1)
    assert_matches_torch(example("text_transformer"), None, perturb(TextTransformer()), [[3, T], [3, T]],
                         tmp_path, input_dtypes=["int64", "bool"], high=1000)


@pytest.mark.parametrize("T", [3, 10])
def test_lstm_classifier_equals_torch(tmp_path, T):
    torch.manual_seed(2)
    assert_matches_torch(example("lstm_classifier"), None, perturb(LSTMTagger()), [[2, T]], tmp_path,
                         input_dtypes=["int64"], high=500)


def test_siamese_shares_one_tower_and_equals_torch(tmp_path):
    torch.manual_seed(3)
    tm = perturb(Siamese())
    assert sorted(tm.state_dict()) == sorted(f"tower.{k}" for k in Tower(32).state_dict())   # one set of weights
    assert_matches_torch(example("siamese"), None, tm, [[2, 1, 28, 28], [2, 1, 28, 28]], tmp_path)


@pytest.mark.parametrize("hw", [(37, 50), (64, 64), (9, 13)])
def test_fpn_at_several_sizes_equals_torch(tmp_path, hw):
    torch.manual_seed(4)
    assert_matches_torch(example("fpn"), None, perturb(FPN()), [[1, 3, *hw]], tmp_path)
