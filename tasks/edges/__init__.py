"""Edge detection: DiffusionEdge (latent decoupled diffusion, adaptive Fourier filter, uncertainty
distillation) against an RCF-style CNN and OpenCV Canny, scored by pyEdgeEval with and without NMS +
thinning and by average crispness."""
