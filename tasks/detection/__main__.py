"""``python -m tasks.detection fit|validate|test|predict -c tasks/detection/configs/teacher.yaml``"""
from common.training.cli import run_cli
from tasks.detection.data import DetectionDataModule
from tasks.detection.module import DetectionModule

CLASSES = (DetectionModule, DetectionDataModule)


def main(args=None, run: bool = True):
    # built by a pipeline stage (run=False): a bad option raises, so the stage can name its params.yaml line
    return run_cli(DetectionModule, DetectionDataModule, args=args, run=run, prog="python -m tasks.detection",
                   exit_on_error=run)


if __name__ == "__main__":
    main()
