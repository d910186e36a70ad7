"""Super-resolution: D^3SR (arXiv 2410.04224), one-step diffusion SR with a noisy-latent diffusion
discriminator and EA-DISTS, against multi-step and KD baselines. In progress: the data stage is built;
the training stages follow (see the README)."""
