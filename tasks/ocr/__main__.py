"""``python -m tasks.ocr fit|validate -c tasks/ocr/configs/<det|teacher|student>.yaml``"""
from common.training.cli import run_cli
from tasks.ocr.module import OCRDataModule, TaskModule


def main(args=None, run: bool = True):
    return run_cli(TaskModule, OCRDataModule, args=args, run=run, prog="python -m tasks.ocr",
                   subclass_mode_data=True)


if __name__ == "__main__":
    main()
