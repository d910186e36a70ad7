"""Distillation: feature taps (forward hooks by module name) and losses with one signature
``loss(student_feature, teacher_feature) -> scalar``."""
from common.distill.losses import CWDLoss, FeatureHintLoss, KDLoss
from common.distill.taps import FeatureTaps

__all__ = ["CWDLoss", "FeatureHintLoss", "FeatureTaps", "KDLoss"]
