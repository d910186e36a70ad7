"""``python -m tasks.edges fit|validate -c tasks/edges/configs/<autoencoder|diffusion|rcf>.yaml``;
``python -m tasks.edges predict --model M --images DIR --out DIR`` (:mod:`tasks.edges.predict`)."""
import sys

from common.training.cli import run_cli
from tasks.edges.module import EdgeDataModule, TaskModule

CLASSES = (TaskModule, EdgeDataModule)


def main(args=None, run: bool = True):
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["predict"]:  # a folder of images in, edge maps on disk out (not Lightning's predict)
        from tasks.edges.predict import main as predict

        return predict(argv[1:])
    # built by a pipeline stage (run=False): a bad option raises, so the stage can name its params.yaml line
    return run_cli(TaskModule, EdgeDataModule, args=args, run=run, prog="python -m tasks.edges", exit_on_error=run)


if __name__ == "__main__":
    main()
