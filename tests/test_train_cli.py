"""`nndc train`: the wide-and-deep example learns a known function, the
trained weights compile, two processes give the one-process result, and
bad data or options are errors before any training (exit 2)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
from helpers import run_onnx  # noqa: E402
from nnd.cli import main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDE_DEEP = os.path.join(ROOT, "examples", "wide_deep.nnd")
NOISE = 0.1


def wide_deep_data(path, n=2000, seed=0):
    """main = wide . w + tanh(deep . u), aux = 2 tanh(deep . u), plus noise
    of standard deviation NOISE: the best possible mean squared error of
    each is NOISE^2 = 0.01; predicting the mean scores their variances
    (about 1.1 and 1.9 here)."""
    rng = np.random.default_rng(seed)
    wide = rng.standard_normal((n, 5)).astype(np.float32)
    deep = rng.standard_normal((n, 6)).astype(np.float32)
    w, u = rng.standard_normal(5) / 2, rng.standard_normal(6) / 2
    h = np.tanh(deep @ u)
    main_ = (wide @ w + h + NOISE * rng.standard_normal(n))[:, None].astype(np.float32)
    aux = (2 * h + NOISE * rng.standard_normal(n))[:, None].astype(np.float32)
    np.savez(path, wide=wide, deep=deep, main=main_, aux=aux)
    return dict(wide=wide, deep=deep, main=main_, aux=aux)


LOSSES = ["--loss", "main=mse:0.9", "--loss", "aux=mse:0.1"]


def test_wide_and_deep_learns_the_function_and_compiles_with_its_weights(tmp_path, capsys):
    import nnd
    data = wide_deep_data(tmp_path / "d.npz")
    w = tmp_path / "w.safetensors"
    rc = main(["train", WIDE_DEEP, "-d", str(tmp_path / "d.npz"), *LOSSES, "--epochs", "20", "--batch", "64",
               "--lr", "3e-3", "--seed", "0", "-o", str(w)])
    err = capsys.readouterr()
    assert rc == 0, err.err
    assert "epoch 1/20  loss main " in err.err and " aux " in err.err and "val_loss" in err.err
    # The threshold: 3x the noise floor (0.01), against about 1.2 for a constant prediction.
    onx = nnd.compile(WIDE_DEEP, weights=str(w))
    main_, aux = run_onnx(onx, {"wide": data["wide"], "deep": data["deep"]})
    loss = 0.9 * np.mean((main_ - data["main"]) ** 2) + 0.1 * np.mean((aux - data["aux"]) ** 2)
    assert loss < 3 * NOISE ** 2, loss
    before = run_onnx(nnd.compile(WIDE_DEEP), {"wide": data["wide"], "deep": data["deep"]})
    assert 0.9 * np.mean((before[0] - data["main"]) ** 2) > 0.5


def test_two_processes_give_the_one_process_result(tmp_path):
    from safetensors.numpy import load_file
    wide_deep_data(tmp_path / "d.npz", n=256)
    outs = []
    for nproc in ("1", "2"):
        out = tmp_path / f"w{nproc}.safetensors"
        assert main(["train", WIDE_DEEP, "-d", str(tmp_path / "d.npz"), *LOSSES, "--epochs", "2", "--batch", "32",
                     "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9", "--nproc", nproc, "-q",
                     "-o", str(out)]) == 0
        outs.append(load_file(str(out)))
    assert outs[0].keys() == outs[1].keys()
    for k in outs[0]:
        np.testing.assert_allclose(outs[1][k], outs[0][k], rtol=0, atol=1e-6)
    from nnd.api import build
    ir, _ = build(WIDE_DEEP, optimize=False)
    init = next(ir.node(n)["arrays"]["weight"] for n in ir.order() if ir.node(n)["name"] == "hidden1")
    assert np.abs(outs[0]["hidden1.weight"] - init).max() > 1e-3     # the processes trained


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("deep"), "has no array `deep` (the input `deep`, [N, 6]); it has: wide, main, aux"),
    (lambda d: d.update(deep=d["deep"][:, :4]), "`deep` has shape [64, 4], but the input `deep` is [N, 6]"),
    (lambda d: d.update(wide=d["wide"].astype(np.int32)), "`wide` must be a floating-point array"),
    (lambda d: d["main"].__setitem__((3, 0), np.nan), "`main` holds 1 NaN or infinite value"),
    (lambda d: d.update(aux=d["aux"][:10]), "the arrays hold different numbers of samples"),
])
def test_bad_data_is_an_error_before_training(tmp_path, capsys, change, message):
    d = wide_deep_data(tmp_path / "d.npz", n=64)
    change(d)
    np.savez(tmp_path / "bad.npz", **d)
    out = tmp_path / "w.safetensors"
    assert main(["train", WIDE_DEEP, "-d", str(tmp_path / "bad.npz"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "epoch" not in err
    assert not out.exists()


@pytest.mark.parametrize("args,message", [
    (["--loss", "nope=mse"], "the model has no output `nope`; its outputs are `main`, `aux`"),
    (["--loss", "main=huber"], "unknown loss `huber`"),
    (["--epochs", "0"], "--epochs 0 is out of range"),
    (["-o", "w.bin"], "the weights are written as .safetensors or .npz"),
])
def test_bad_options_exit_2(tmp_path, capsys, args, message):
    wide_deep_data(tmp_path / "d.npz", n=32)
    assert main(["train", WIDE_DEEP, "-d", str(tmp_path / "d.npz"), *args]) == 2
    assert message in capsys.readouterr().err


def test_without_torch_it_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["train", WIDE_DEEP, "-d", str(tmp_path / "d.npz")]) == 2
    assert capsys.readouterr().err == "nndc: error: nndc train needs PyTorch: pip install 'nnd[train]' " \
                                      "(torch and safetensors)\n"


def test_npz_weights_and_fine_tuning_from_them(tmp_path):
    from nnd.api import build
    wide_deep_data(tmp_path / "d.npz", n=64)
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    args = ["train", WIDE_DEEP, "-d", str(tmp_path / "d.npz"), "--epochs", "1", "-q", "--val-split", "0"]
    assert main(args + ["-o", str(first)]) == 0
    assert main(args + ["-o", str(second), "--weights", str(first), "--freeze", "hidden1"]) == 0
    a, b = np.load(first), np.load(second)
    ir, _ = build(WIDE_DEEP, optimize=False)
    assert sorted(a.files) == sorted(b.files) == sorted(f"{ir.node(n)['name']}.{k}" for n in ir.order()
                                                       for k in ir.node(n)["attrs"].get("weights", {}))
    assert np.array_equal(a["hidden1.weight"], b["hidden1.weight"])
    assert not np.array_equal(a["hidden2.weight"], b["hidden2.weight"])


def test_transfer_learning_example_fine_tunes_and_compiles(tmp_path, capsys):
    """examples/transfer_resnet18.nnd from "pretrained" ResNet-18 weights
    (the std model's, with torchvision's names and its 1000-class `fc`,
    which --partial leaves out): the frozen stages keep their weights, the
    head learns classes that the images' channel means give away, and the
    compiled model with the trained weights runs on onnxruntime."""
    import nnd
    import nnd.torch
    from safetensors.numpy import load_file, save_file
    path = os.path.join(ROOT, "examples", "transfer_resnet18.nnd")
    pre = nnd.torch.module(text="import std.resnet\nmodel M = ResNet18(size = 32)\n", seed=5).state_dict()
    save_file({k: v.numpy() for k, v in pre.items()}, str(tmp_path / "pre.safetensors"))
    rng = np.random.default_rng(0)
    labels = np.arange(48) % 4
    images = rng.standard_normal((48, 3, 32, 32)).astype(np.float32)
    for k in range(3):
        images[labels == k, k] += 2.0
    np.savez(tmp_path / "d.npz", image=images, logits=labels.astype(np.int64))
    out = tmp_path / "tuned.safetensors"
    assert main(["train", path, "-d", str(tmp_path / "d.npz"), "--loss", "logits=ce", "--weights",
                 str(tmp_path / "pre.safetensors"), "--partial", "--epochs", "4", "--batch", "16",
                 "--val-split", "0", "--lr", "1e-3", "-q", "-p", "size=32", "-o", str(out)]) == 0
    tuned = load_file(str(out))
    assert np.array_equal(tuned["layer2.1.conv2.weight"], pre["layer2.1.conv2.weight"].numpy())
    assert np.array_equal(tuned["bn1.running_mean"], pre["bn1.running_mean"].numpy())
    assert not np.array_equal(tuned["layer4.1.conv2.weight"], pre["layer4.1.conv2.weight"].numpy())
    capsys.readouterr()
    (logits,) = run_onnx(nnd.compile(path, params={"size": 32}, weights=str(out)), {"image": images})
    assert (logits.argmax(1) == labels).mean() >= 0.9


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "nadam"])
def test_each_optimizer_and_schedule_trains(tmp_path, optimizer):
    from safetensors.numpy import load_file
    wide_deep_data(tmp_path / "d.npz", n=64)
    got = []
    for schedule in ("constant", "1cycle", "cosine"):
        out = tmp_path / f"{schedule}.safetensors"
        assert main(["train", WIDE_DEEP, "-d", str(tmp_path / "d.npz"), "--optimizer", optimizer, "--schedule",
                     schedule, "--epochs", "2", "--batch", "16", "--clip-grad", "1.0", "-q", "-o", str(out)]) == 0
        got.append(load_file(str(out))["main_output.weight"])
    assert not np.array_equal(got[0], got[1]) and not np.array_equal(got[1], got[2])


def test_vit_example_trains_an_epoch_and_every_weight_moves(tmp_path, capsys):
    """examples/vit.nnd (class token, position embedding, attention, a
    run-time batch size in `expand`) for one epoch on random images: every
    parameter, the attention's projections included, is updated, and the
    result compiles and runs."""
    import nnd
    import nnd.torch
    from safetensors.numpy import load_file
    path = os.path.join(ROOT, "examples", "vit.nnd")
    rng = np.random.default_rng(0)
    images = rng.standard_normal((12, 3, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "d.npz", image=images, logits=rng.integers(0, 10, 12))
    out = tmp_path / "w.safetensors"
    assert main(["train", path, "-d", str(tmp_path / "d.npz"), "--loss", "logits=ce", "--epochs", "1", "--batch",
                 "4", "--val-split", "0", "--optimizer", "adam", "-p", "depth=1", "-o", str(out)]) == 0
    assert "epoch 1/1  loss logits " in capsys.readouterr().err
    trained = load_file(str(out))
    initial = nnd.torch.module(path, params={"depth": 1}, seed=0).state_dict()
    assert sorted(trained) == sorted(initial)
    assert [k for k in initial if np.array_equal(trained[k], initial[k].numpy())] == []
    (logits,) = run_onnx(nnd.compile(path, params={"depth": 1}, weights=str(out)), {"image": images[:3]})
    assert logits.shape == (3, 10) and np.isfinite(logits).all()
