"""``python -m tasks.detection fit|validate|test|predict -c tasks/detection/configs/teacher.yaml``"""
from common.training.cli import run_cli
from tasks.detection.data import DetectionDataModule
from tasks.detection.module import DetectionModule


def main(args=None, run: bool = True):
    return run_cli(DetectionModule, DetectionDataModule, args=args, run=run, prog="python -m tasks.detection")


if __name__ == "__main__":
    main()
