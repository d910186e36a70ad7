"""common.compress on a torchvision ResNet-18 and on a toy Lightning task: nothing here is YOLO-specific
(the YOLOv8 side is tested in tests/detection/test_compress_yolo.py)."""
import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from common.compress.prune import prune_channels
from common.compress.quantize import quantize_static_int8
from common.compress.shapes import apply_shape_plan, shape_plan
from common.compress.sparsity import BNSparsity, bn_l1, gamma_stats, sparsity_weight
from tests.common.test_training import Toy, loader, trainer


def resnet18(num_classes=10):
    torch.manual_seed(0)
    m = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    for bn in (x for x in m.modules() if isinstance(x, nn.BatchNorm2d)):  # distinct |γ| so ranking matters
        bn.weight.data.uniform_(0.1, 1.0)
    return m.eval()


def test_bn_l1_and_its_gradient():
    m = resnet18()
    direct = sum(b.weight.abs().sum() for b in m.modules() if isinstance(b, nn.BatchNorm2d))
    pen = bn_l1(m)
    assert pen.item() == pytest.approx(direct.item(), rel=1e-6)
    pen.backward()
    assert torch.equal(m.bn1.weight.grad, torch.sign(m.bn1.weight.detach()))
    with pytest.raises(ValueError, match="no affine BatchNorm"):
        bn_l1(nn.Linear(2, 2))


def test_paper_schedule():
    assert sparsity_weight(0.01, 0, 10) == pytest.approx(0.01)
    assert sparsity_weight(0.01, 5, 10) == pytest.approx(0.01 * (1 - 0.45))
    assert sparsity_weight(0.01, 10, 10) == pytest.approx(0.001)
    assert sparsity_weight(0.01, 7, 10, "constant") == 0.01
    with pytest.raises(ValueError, match="unknown sparsity schedule"):
        sparsity_weight(0.01, 0, 1, "cosine")


class ToyWithPenalty(Toy):
    """The same toy task with λ·Σ|γ| written into its loss."""

    def __init__(self, lam, **kw):
        super().__init__(**kw)
        self.lam = lam

    def task_loss(self, batch):
        loss, items = super().task_loss(batch)
        return loss + self.lam * bn_l1(self.model), items


def _fit(module, callbacks=()):
    trainer(max_epochs=2, callbacks=list(callbacks)).fit(module, loader())
    return module.model[1].weight.detach().clone()


def test_callback_equals_penalty_in_the_loss():
    """BNSparsity (sub-gradient after backward, through TaskModule's manual optimisation) trains exactly
    like adding λ·Σ|γ| to the loss; and it shrinks γ compared with no penalty."""
    sgd = dict(optimizer=lambda p: torch.optim.SGD(p, lr=0.05), weight_decay=0.0, warmup_epochs=0.0,
               grad_clip_norm=None)
    torch.manual_seed(0)
    g_cb = _fit(Toy(**sgd), [BNSparsity(s0=0.2, schedule="constant")])
    torch.manual_seed(0)
    g_loss = _fit(ToyWithPenalty(0.2, **sgd))
    torch.manual_seed(0)
    g_none = _fit(Toy(**sgd))
    assert torch.allclose(g_cb, g_loss, atol=1e-6)
    assert g_cb.abs().sum() < g_none.abs().sum() - 0.1


def test_uniform_pruning_resnet18_forward_and_shapes():
    m = resnet18()
    x = torch.randn(1, 3, 64, 64)
    rep = prune_channels(m, x, 0.5, mode="uniform", ignored_layers=[m.fc], round_to=None)
    assert m(x).shape == (1, 10)  # still runs, classifier width untouched
    assert m.fc.out_features == 10
    assert 0.2 < rep.params_ratio < 0.35 and 0.2 < rep.gflops_ratio < 0.35
    # every conv lost (about) half its out-channels, and each BN matches its conv
    assert m.conv1.out_channels == 32 and m.bn1.num_features == 32 and m.bn1.weight.shape == (32,)
    assert all(after <= before for before, after in rep.channels.values())


def test_pruning_removes_the_smallest_gamma_channels():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
    net[1].weight.data = torch.tensor([0.9, 0.01, 0.5, 0.02, 0.7, 0.03, 0.6, 0.04])
    prune_channels(net, torch.randn(1, 3, 8, 8), 0.5, ignored_layers=[net[3]], round_to=None)
    assert sorted(net[1].weight.detach().tolist()) == pytest.approx([0.5, 0.6, 0.7, 0.9])
    assert net[3].in_channels == 4


def test_global_pruning_uses_one_threshold():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8),
                        nn.ReLU(), nn.Conv2d(8, 4, 1))
    net[1].weight.data = torch.linspace(0.01, 0.08, 8)  # all small in layer 1
    net[4].weight.data = torch.linspace(0.5, 1.0, 8)  # all large in layer 2
    prune_channels(net, torch.randn(1, 3, 12, 12), 0.25, mode="global", ignored_layers=[net[6]],
                   round_to=None, max_layer_ratio=0.5)
    # 4 of 16 channels go, all from the small-γ layer (one threshold over the network)
    assert net[1].num_features == 4 and net[4].num_features == 8
    assert net[1].weight.detach().min() > 0.045
    with pytest.raises(ValueError, match="unknown pruning mode"):
        prune_channels(net, torch.randn(1, 3, 12, 12), 0.5, mode="random")


def test_pruned_model_round_trip_with_weights_only(tmp_path):
    m = resnet18()
    x = torch.randn(2, 3, 64, 64)
    prune_channels(m, x[:1], 0.5, ignored_layers=[m.fc])
    ref = m(x)
    torch.save({"plan": shape_plan(m), "state_dict": m.state_dict()}, tmp_path / "p.pt")
    ck = torch.load(tmp_path / "p.pt", weights_only=True)
    fresh = torchvision.models.resnet18(weights=None, num_classes=10)
    apply_shape_plan(fresh, ck["plan"], ck["state_dict"])
    assert torch.allclose(fresh.eval()(x), ref, atol=1e-6)
    with pytest.raises(KeyError, match="same architecture"):
        apply_shape_plan(nn.Sequential(nn.Linear(2, 2)), ck["plan"], ck["state_dict"])


def test_gamma_stats():
    s = gamma_stats(resnet18())
    assert s["count"] > 1000 and 0.1 <= s["median"] <= 1.0 and s["frac_below_0.01"] == 0.0


def test_static_int8_resnet18(tmp_path):
    """QDQ INT8 of a (pruned) ResNet-18: runs, is smaller, and agrees with fp32 on the top class."""
    import onnxruntime as ort

    from common.export.onnx import export_onnx

    m = resnet18()
    x = torch.randn(1, 3, 64, 64)
    export_onnx(m, x, tmp_path / "fp32.onnx", atol=1e-3)
    rng = np.random.default_rng(0)
    calib = [rng.standard_normal((1, 3, 64, 64)).astype(np.float32) for _ in range(8)]
    info = quantize_static_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", calib)
    assert info["format"] == "QDQ" and info["calibration_images"] == 8
    assert (tmp_path / "int8.onnx").stat().st_size < 0.4 * (tmp_path / "fp32.onnx").stat().st_size
    sess = ort.InferenceSession(str(tmp_path / "int8.onnx"), providers=["CPUExecutionProvider"])
    ops = {n.op_type for n in __import__("onnx").load(str(tmp_path / "int8.onnx")).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    ref = torch.softmax(m(torch.from_numpy(calib[0])), 1).detach().numpy()
    out = sess.run(None, {sess.get_inputs()[0].name: calib[0]})[0]
    assert np.corrcoef(ref.ravel(), torch.softmax(torch.from_numpy(out), 1).numpy().ravel())[0, 1] > 0.9
    with pytest.raises(ValueError, match="at least one"):
        quantize_static_int8(tmp_path / "fp32.onnx", tmp_path / "x.onnx", [])


def test_kept_channels_names_the_parent_channels_pruning_kept():
    import copy

    from common.compress.prune import kept_channels

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
    net[1].weight.data = torch.tensor([0.9, 0.01, 0.5, 0.02, 0.7, 0.03, 0.6, 0.04])
    net[1].running_mean.data = torch.randn(8)
    parent = copy.deepcopy(net)
    prune_channels(net, torch.randn(1, 3, 8, 8), 0.5, mode="uniform", ignored_layers=[net[3]], round_to=None)
    assert kept_channels(parent[1], net[1]) == [0, 2, 4, 6]  # the four largest |γ|, in the pruned layer's order
    net[1].weight.data += 1.0  # trained after pruning: no longer traceable
    with pytest.raises(ValueError, match="matches no channel"):
        kept_channels(parent[1], net[1])


def test_random_importance_keeps_the_structure_and_draws_other_channels():
    import copy

    from common.compress.prune import kept_channels

    net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 4, 1))
    net[1].weight.data = torch.linspace(0.01, 1.0, 16)
    net[1].running_mean.data = torch.randn(16)
    kept = {}
    for seed in (0, 1):
        m = copy.deepcopy(net)
        rep = prune_channels(m, torch.randn(1, 3, 8, 8), 0.5, mode="uniform", ignored_layers=[m[3]], round_to=None,
                             importance="random", seed=seed)
        assert m[0].out_channels == 8 and rep.params_after < rep.params_before
        kept[seed] = kept_channels(net[1], m[1])
    assert kept[0] != list(range(8, 16)) or kept[1] != list(range(8, 16))  # not the |γ| choice every time
    assert kept[0] != kept[1]
    with pytest.raises(ValueError, match="unknown channel importance"):
        prune_channels(copy.deepcopy(net), torch.randn(1, 3, 8, 8), 0.5, importance="taylor")
