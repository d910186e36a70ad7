"""GNN link prediction: Topological Concentration (TC/ATC, arXiv 2310.04612) and FastRP (arXiv 1908.11512).

Stages (``tasks/linkpred/dvc.yaml``): prepare → train (GCN/SAGE + MLP predictor, TC-guided re-weighting)
→ tc (TC, ATC, degree, clustering per node) → fastrp (FastRP vs DeepWalk) → evaluate (the papers'
analyses); the report is the root stage ``tasks/linkpred``.
"""
