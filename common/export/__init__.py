"""Export: PyTorch → ONNX with a numeric check against PyTorch."""
