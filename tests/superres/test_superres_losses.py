"""D^3SR's pieces on small tensors: EA-DISTS, the discriminator's noise schedule, the GAN losses, LoRA wiring."""
import pytest
import torch

from tasks.superres import losses as Ls
from tasks.superres import models as M

TINY_UNET = {"block_out_channels": [16, 32], "attention_levels": [False, True], "norm_num_groups": 8,
             "attention_head_dim": 8}
TINY_AE = {"block_out_channels": [8, 16], "norm_num_groups": 4, "latent_channels": 4}


@pytest.fixture(scope="module")
def feats():
    torch.manual_seed(0)
    return M.FeatureNet((8, 16), n_classes=3).eval()


def test_sobel_is_zero_on_flat_images_and_finds_a_step():
    flat = torch.full((1, 3, 8, 8), 0.4)
    assert Ls.sobel(flat).abs().max() < 1e-5
    step = torch.zeros(1, 1, 8, 8)
    step[..., 4:] = 1.0
    g = Ls.sobel(step)[0, 0]
    assert g[:, 3:5].min() > 0.4 and g[:, :2].max() < 1e-5 and g[:, 6:].max() < 1e-5


def test_dists_is_zero_for_identical_images_and_grows_with_distortion(feats):
    torch.manual_seed(1)
    x = torch.rand(2, 3, 16, 16)
    d = Ls.DISTS(feats)
    assert d.distance(x, x).abs().max() < 1e-5
    small = d.distance((x + 0.05 * torch.randn_like(x)).clamp(0, 1), x)
    large = d.distance((x + 0.3 * torch.randn_like(x)).clamp(0, 1), x)
    assert (small > 0).all() and (large > small).all()


def test_ea_dists_adds_the_edge_term_and_sends_gradients_to_the_image_only(feats):
    torch.manual_seed(2)
    y = torch.rand(2, 3, 16, 16)
    x = (y + 0.1 * torch.randn_like(y)).clamp(0, 1).requires_grad_(True)
    plain, ea = Ls.DISTS(feats, edge_weight=0.0), Ls.DISTS(feats, edge_weight=1.0)
    edge = plain.edge_distance(x, y).mean()
    assert edge > 0
    assert torch.allclose(ea(x, y), plain(x, y) + edge, atol=1e-6)
    ea(x, y).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in feats.parameters())  # the feature network stays frozen


def test_edge_term_sees_blur_that_plain_dists_underweights(feats):
    """A blurred copy keeps global colour statistics but loses edges: the edge term must penalise it."""
    import torch.nn.functional as F

    y = torch.zeros(1, 3, 16, 16)
    y[..., ::4, :] = 1.0  # stripes: strong edges
    blurred = F.avg_pool2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), 3, 1)
    d = Ls.DISTS(feats)
    assert d.edge_distance(blurred, y).item() > 0.01


def test_forward_diffusion_matches_the_schedule():
    ac = M.alphas_cumprod()
    assert ac.shape == (1000,) and ac[0] > 0.99 and ac[-1] < 0.01 and (ac[1:] < ac[:-1]).all()
    z0 = torch.full((4096, 1, 1, 1), 2.0)
    for t in (0, 500, 999):
        z = Ls.forward_diffuse(z0, torch.full((4096,), t), ac)
        assert abs(z.mean().item() - 2.0 * ac[t].sqrt().item()) < 0.06
        assert abs(z.var().item() - (1 - ac[t]).item()) < 0.08


def test_discriminator_timesteps_random_and_fixed():
    g = torch.Generator().manual_seed(0)
    t = Ls.sample_timesteps(4000, "random", 500, 10, 900, generator=g)
    assert t.min() >= 10 and t.max() <= 900 and t.float().std() > 200 and len(t.unique()) > 500
    assert (Ls.sample_timesteps(7, "fixed", 321, 0, 999) == 321).all()
    with pytest.raises(ValueError, match="random' or 'fixed"):
        Ls.sample_timesteps(3, "sometimes", 0, 0, 999)


def test_non_saturating_gan_losses():
    big = torch.full((2, 1, 2, 2), 20.0)
    assert Ls.d_loss(big, -big) < 1e-6  # a confident, correct discriminator
    assert Ls.g_loss(big) < 1e-6 and Ls.g_loss(-big) > 19  # the generator is rewarded for fooling it
    assert abs(Ls.d_loss(torch.zeros(1), torch.zeros(1)).item() - 2 * torch.log(torch.tensor(2.0)).item()) < 1e-6


def test_lora_leaves_only_adapters_trainable_and_starts_as_the_base_model():
    torch.manual_seed(0)
    base = M.build_unet(4, TINY_UNET).eval()
    z, t = torch.randn(2, 8, 8, 8), torch.tensor([10, 500])
    ref = base(z, t).sample
    lora = M.add_lora(__import__("copy").deepcopy(base), rank=4).eval()
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any("conv1" in n for n in trainable) and any("to_q" in n for n in trainable)
    assert torch.allclose(lora(z, t).sample, ref, atol=1e-5)  # LoRA's B starts at zero


def test_one_step_generator_and_discriminator_train_only_their_adapters():
    torch.manual_seed(0)
    codec = M.LatentCodec(M.build_autoencoder(TINY_AE), 0.5)
    base = M.build_unet(4, TINY_UNET)
    gen = M.OneStepSR(codec, M.add_lora(__import__("copy").deepcopy(base), 4), timestep=250, factor=4)
    disc = M.LatentDiscriminator(base, rank=4)
    frozen_before = {n: p.clone() for n, p in base.named_parameters()}
    params = [p for m in (gen, disc) for p in m.parameters() if p.requires_grad]
    names = [n for m in (gen, disc) for n, p in m.named_parameters() if p.requires_grad]
    assert all("lora_" in n or n.startswith("head.") for n in names)
    assert not any(n.startswith("codec.") for n in names)  # the autoencoder is frozen
    opt = torch.optim.SGD(params, lr=0.5)
    lr = torch.rand(2, 3, 8, 8)
    z_lr = codec.encode_lr(lr, 4)
    z_hat = gen.latent(z_lr)
    t = torch.tensor([3, 700])
    logits = disc(Ls.forward_diffuse(z_hat, t, M.alphas_cumprod()), z_lr, t)
    assert logits.shape == (2, 1, z_lr.shape[2] // 2, z_lr.shape[3] // 2)  # one logit per latent patch
    for _ in range(2):  # first step moves LoRA's B away from zero, the second reaches A too
        opt.zero_grad()
        (Ls.g_loss(disc(Ls.forward_diffuse(gen.latent(z_lr), t, M.alphas_cumprod()), z_lr, t))
         + gen(lr).mean()).backward()
        opt.step()
    assert all(torch.equal(p, frozen_before[n]) for n, p in base.named_parameters())
    lora_b = [p for n, p in gen.unet.named_parameters() if "lora_B" in n]
    assert any(p.abs().sum() > 0 for p in lora_b)


def test_merged_lora_generator_equals_the_adapter_model(tmp_path):
    from tasks.superres.module import OneStepModule

    torch.manual_seed(0)
    unet = M.build_unet(4, TINY_UNET)
    lora = M.add_lora(__import__("copy").deepcopy(unet), 4)
    for n, p in lora.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.05)
    z, t = torch.randn(1, 8, 8, 8), torch.tensor([250])
    fake = type("Fake", (), {})()
    fake.model = type("G", (), {"unet": lora})()
    merged = OneStepModule.generator_unet(fake)
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    assert set(merged.state_dict()) == set(unet.state_dict())  # loads into a plain diffusers UNet
    assert torch.allclose(merged(z, t).sample, lora(z, t).sample, atol=1e-4)
