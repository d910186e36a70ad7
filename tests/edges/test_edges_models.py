"""DiffusionEdge's networks: the adaptive Fourier filter (exact FFT by matrices, shapes, gradient), the two-head
UNet, the sampler on odd sizes, the CNN baseline, and the crispness / pyEdgeEval metrics on hand-made maps."""
import numpy as np
import pytest
import torch

from tasks.edges import models as M
from tasks.edges.metrics import average_crispness, boundary_scores, crispness


@pytest.mark.parametrize("w", [6, 7])
def test_matrix_fft_is_torch_fft(w):
    x = torch.randn(2, 3, 5, w, dtype=torch.float64)
    re, im = M.rfft2_ortho(x)
    ref = torch.fft.rfft2(x, norm="ortho")
    assert torch.allclose(re, ref.real, atol=1e-12) and torch.allclose(im, ref.imag, atol=1e-12)
    spec = ref * torch.randn(ref.shape, dtype=torch.complex128)
    assert torch.allclose(M.irfft2_ortho(spec.real, spec.imag, w), torch.fft.irfft2(spec, s=(5, w), norm="ortho"),
                          atol=1e-12)


def test_fourier_filter_shapes_and_gradient():
    aff = M.AdaptiveFourierFilter(4, 6, 6)
    assert tuple(aff.weight.shape) == (4, 6, 4, 2)  # (C, H, W/2 + 1, real/imag)
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    y = aff(x)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert aff.weight.grad.abs().sum() > 0 and x.grad.abs().sum() > 0
    with torch.no_grad():  # a weight of 1 + 0i is the identity filter
        aff.weight.zero_()
        aff.weight[..., 0] = 1
    assert torch.allclose(aff(x), x, atol=1e-5)
    assert aff(torch.randn(1, 4, 8, 10)).shape == (1, 4, 8, 10)  # other sizes: the weight is resized


def test_two_head_unet_and_ablation_flag():
    unet = M.DecoupledUNet(3, (8, 8), dims=[16, 24], cond_channels=[8, 16, 24], temb=32, groups=4)
    xt, img = torch.randn(2, 3, 8, 8), torch.rand(2, 3, 32, 32)
    c_hat, eps_hat = unet(xt, torch.tensor([0.2, 0.9]), img)
    assert c_hat.shape == eps_hat.shape == xt.shape
    assert any(isinstance(m, M.AdaptiveFourierFilter) for m in unet.modules())
    no_aff = M.DecoupledUNet(3, (8, 8), dims=[16, 24], cond_channels=[8, 16, 24], temb=32, groups=4, aff=False)
    assert not any(isinstance(m, M.AdaptiveFourierFilter) for m in no_aff.modules())
    assert unet.dec_c is not unet.dec_eps  # two separate decoders after the shared trunk


def test_sampler_handles_sizes_that_are_not_multiples():
    unet = M.DecoupledUNet(3, (8, 8), dims=[16, 24], cond_channels=[8, 16, 24], temb=32, groups=4).eval()
    codec = M.EdgeCodec(M.build_autoencoder({"block_out_channels": [8, 16, 16], "norm_num_groups": 4})).eval()
    sampler = M.EdgeSampler(unet, codec, steps=2)
    assert sampler.multiple == 8
    with torch.no_grad():
        out = sampler(torch.rand(1, 3, 30, 37))
        again = sampler(torch.rand(1, 3, 30, 37))
    assert out.shape == (1, 1, 30, 37) and 0 <= out.min() and out.max() <= 1
    assert not torch.equal(out, again)  # it depends on the image, not only on the fixed start noise


def test_rcf_outputs_a_side_map_per_stage_and_a_fusion():
    net = M.RCFNet([8, 16, 16])
    outs = net(torch.rand(2, 3, 30, 30))
    assert len(outs) == 4 and all(o.shape == (2, 1, 30, 30) for o in outs)
    assert torch.equal(net.predict(torch.zeros(1, 3, 30, 30)), net(torch.zeros(1, 3, 30, 30))[-1])


def test_crispness_on_hand_made_maps():
    import cv2

    line = np.zeros((64, 64), np.float32)
    line[:, 30] = 1
    thick = cv2.GaussianBlur(line, (0, 0), 2)
    thick /= thick.max()
    assert crispness(line) > 0.85  # one pixel wide: all of it survives NMS (but the image border's ramp)
    assert crispness(thick) < 0.3
    assert crispness(np.zeros((8, 8))) is None
    assert average_crispness([line, thick, np.zeros((64, 64))])["empty_maps"] == 1


def test_boundary_scores_reward_exact_edges_and_punish_thick_ones_without_post_processing():
    import cv2

    gt = np.zeros((1, 48, 48), np.uint8)
    gt[0, 10:40, 24] = 1
    gt[0, 24, 5:45] = 1
    exact = gt[0].astype(np.float32)
    thick = cv2.dilate(exact, np.ones((5, 5), np.uint8))
    far = np.roll(exact, 6, axis=1)
    s = {k: boundary_scores([m], [gt], 5, post_process=False) for k, m in
         {"exact": exact, "thick": thick, "far": far}.items()}
    assert s["exact"]["ods"] == pytest.approx(1.0) and s["exact"]["ois"] == pytest.approx(1.0)
    assert s["thick"]["ods"] < 0.6  # every extra pixel is a false positive without thinning
    assert boundary_scores([thick], [gt], 5, post_process=True)["ods"] > 0.9  # thinning rescues it
    assert s["far"]["ods"] < 0.5  # 6 px away is beyond 0.0075 × diagonal
    with pytest.raises(ValueError, match="prediction"):
        boundary_scores([exact[:10]], [gt], 5)
