"""Detection: "A Novel Compression Framework for YOLOv8" (arXiv 2509.12918) on VisDrone-DET.

Entry points: ``python -m tasks.detection fit|validate|test|predict`` (LightningCLI) and one module per
pipeline stage (``python -m tasks.detection.<stage>``), wired in ``tasks/detection/dvc.yaml``.
"""
