"""Pose estimation: LitePose (arXiv 2205.01271) beside a YOLOv8-pose peer; see ``tasks/pose/dvc.yaml``."""
