"""``python -m tasks.ocr fit|validate -c tasks/ocr/configs/<det|teacher|student>.yaml``"""
from common.training.cli import run_cli
from tasks.ocr.module import DetDataModule, DetModule, OCRDataModule, RecDataModule, RecModule, TaskModule

# (LightningModule, LightningDataModule) of each kind of network, for the stages' error messages
CLASSES = {"det": (DetModule, DetDataModule), "rec": (RecModule, RecDataModule)}


def main(args=None, run: bool = True):
    # built by a pipeline stage (run=False): a bad option raises, so the stage can name its params.yaml line
    return run_cli(TaskModule, OCRDataModule, args=args, run=run, prog="python -m tasks.ocr",
                   subclass_mode_data=True, exit_on_error=run)


if __name__ == "__main__":
    main()
