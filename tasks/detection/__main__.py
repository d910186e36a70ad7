"""``python -m tasks.detection fit|validate|test -c tasks/detection/configs/teacher.yaml``;
``python -m tasks.detection predict --model M --images DIR --out DIR`` (:mod:`tasks.detection.predict`)."""
import sys

from common.training.cli import run_cli
from tasks.detection.data import DetectionDataModule
from tasks.detection.module import DetectionModule

CLASSES = (DetectionModule, DetectionDataModule)


def main(args=None, run: bool = True):
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["predict"]:  # a folder of images in, predictions on disk out (not Lightning's predict)
        from tasks.detection.predict import main as predict

        return predict(argv[1:])
    # built by a pipeline stage (run=False): a bad option raises, so the stage can name its params.yaml line
    # the classes come from the data: the model's nc and names are not options (a config setting them is refused)
    return run_cli(DetectionModule, DetectionDataModule, args=args, run=run, prog="python -m tasks.detection",
                   links=[("data.nc", "model.init_args.nc"), ("data.class_names", "model.init_args.names")],
                   exit_on_error=run)


if __name__ == "__main__":
    main()
