"""Cross-modal person ReID (MLLMEmbed-ReID, arXiv 2602.12936): a cloud teacher with one embedding space over RGB,
infrared, sketch and text (vision encoder + pretrained MiniLM text encoder with hierarchical LoRA), and an edge
student (MobileNetV3-Small) distilled with PCM (adaptive SVD subspace) + feature relation, against plain KD."""
