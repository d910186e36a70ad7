"""Shared building blocks of edgerepro: data formats, training, distillation, export, evaluation, reports.

Nothing under ``common`` imports a task or a task's model zoo (ultralytics, torch_geometric, ...).
"""
