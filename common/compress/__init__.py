"""Model compression shared by tasks: BatchNorm-γ sparsity training (``sparsity``), structured channel
pruning with Torch-Pruning's dependency graph (``prune``), saving/loading pruned models (``shapes``) and
static INT8 quantisation of ONNX models with onnxruntime (``quantize``).

Nothing here knows a task's architecture: a task passes the layers that must keep their channels
(``ignored_layers``) and, where its blocks defeat the dependency graph, rewrites them first (detection's
C2f split lives in ``tasks/detection``).
"""
