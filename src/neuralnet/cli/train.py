"""``neuralnet train``: train a network (the chapter's by default) and write a run folder."""

from __future__ import annotations

import argparse
import dataclasses

from ..runs.config import SETTINGS, Setting, TrainingConfig
from . import UsageError
from .options import add_data_options

DEFAULTS = TrainingConfig()
#: the declared defaults (before an unset learning rate... becomes the optimizer's)
DECLARED = {f.name: f.default for f in dataclasses.fields(TrainingConfig)}

#: the option groups of --help, by the settings' groups
GROUPS = {"network": "network", "optimization": "optimization", "data": "data and output"}


def _default(key: str) -> str:
    value = getattr(DEFAULTS, key) if DECLARED.get(key) is not None else None
    if value is None:
        return "" if "(default:" in SETTINGS[key].help else f"(default: {SETTINGS[key].unset})"
    if isinstance(value, list):
        value = " ".join(map(str, value))
    return f"(default: {value})"


def _argument_type(key: str, spec: Setting):
    """argparse's type for one value of ``key``: the vocabulary's own reading of text."""

    def read(text: str):
        try:
            return spec.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    read.__name__ = spec.kind  # argparse names it in "invalid ... value"
    return read


def add_setting_options(group, key: str, spec: Setting) -> None:
    """The command-line option of one configuration key, made from its ``Setting``."""
    S = argparse.SUPPRESS  # options not given on the command line keep the config file's value
    flags = ["--" + key.replace("_", "-"), *spec.flags]
    help_text = f"{spec.help} {_default(key)}"
    if spec.kind == "bool":
        group.add_argument(*flags, dest=key, action="store_true", default=S, help=spec.help)
    elif spec.kind == "choice":
        group.add_argument(*flags, dest=key, choices=list(spec.choices), default=S, help=help_text)
    elif spec.kind == "ints":
        group.add_argument(*flags, dest=key, type=int, nargs="+", metavar=spec.metavar, default=S, help=help_text)
    elif spec.kind == "floats":
        group.add_argument(
            *flags, dest=key, type=float, nargs=spec.length or "+", metavar=spec.metavar, default=S, help=help_text
        )
    else:
        group.add_argument(
            *flags, dest=key, type=_argument_type(key, spec), metavar=spec.metavar, default=S, help=help_text
        )


def add_parser(subparsers) -> None:
    """Add the ``train`` subcommand, its options and its ``run``, to the ``neuralnet`` parser's subparsers."""
    parser = subparsers.add_parser(
        "train",
        help="train a network and write a run folder",
        description="Train a multilayer perceptron on MNIST or Fashion-MNIST with the chapter's split "
        "(55,000 / 5,000 / 10,000), print the chapter's per-epoch log and the test accuracy, "
        "and write a run folder <out>/<timestamp>/ with the configuration, history (CSV and "
        "JSON), metrics, model (safetensors) and figures. Without options it trains the "
        "chapter's network: 784-50-10 sigmoid, MSE, SGD with learning rate 0.1, "
        "mini-batches of 100, 50 epochs, seed 123.",
    )
    groups = {name: parser.add_argument_group(title) for name, title in GROUPS.items()}
    for key, spec in SETTINGS.items():
        add_setting_options(groups[spec.group], key, spec)

    data = groups["data"]
    add_data_options(data)
    data.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="folder in which the run folder <timestamp>/ is created (default: runs); a new "
        "run always gets a new folder, an existing one is never written over",
    )
    data.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file with any of the keys above (hidden, activation, loss, lr, "
        "batch_size, ...); options on the command line override it",
    )
    data.add_argument("--no-figures", dest="figures", action="store_false", help="do not draw the figures")
    data.add_argument(
        "--no-progress",
        dest="progress",
        action="store_const",
        const=False,
        default=None,
        help="no progress bar (it is shown only on a terminal anyway)",
    )
    data.add_argument("--quiet", action="store_true", help="print only the test accuracy and the run folder")
    data.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard logs (losses, accuracies, learning rate, weight and gradient "
        "histograms) to the run's tensorboard/ folder: tensorboard --logdir RUN/tensorboard "
        "(needs the tensorboard extra: pip install 'neuralnet-from-scratch[tensorboard]')",
    )

    safety = parser.add_argument_group("checkpoints and model files")
    safety.add_argument(
        "--resume",
        metavar="RUN",
        help="continue the interrupted run in folder RUN from the checkpoint written at the end "
        "of its last finished epoch, with the run's own configuration and data (the result "
        "is the one the run would have given without the interruption); network, "
        "optimization and data-set options cannot be combined with it",
    )
    safety.add_argument(
        "--continue",
        dest="continue_from",
        metavar="RUN",
        help="train the finished run in folder RUN on to --epochs epochs, from the checkpoint of "
        "its last epoch, in a new run folder (RUN is left as it is); with a constant, step "
        "or exponential schedule the result is that of a run of --epochs epochs from the "
        "start; other network, optimization and data-set options cannot be combined with it",
    )
    safety.add_argument(
        "--model-out",
        metavar="FILE",
        help="also write the trained model to FILE (safetensors); an existing FILE is not "
        "replaced unless --overwrite is given",
    )
    safety.add_argument("--overwrite", action="store_true", help="allow --model-out to replace an existing file")
    parser.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> TrainingConfig:
    """Defaults, then the --config file, then the options given on the command line."""
    base = TrainingConfig.read_toml(args.config) if args.config else {}  # checked once, merged
    given = {key: getattr(args, key) for key in TrainingConfig.keys() if hasattr(args, key)}
    return TrainingConfig.from_dict({**base, **given})


def _refuse_options(args: argparse.Namespace, keep: set[str], reason: str) -> None:
    """UsageError naming the configuration options given (and --config, --out) other than ``keep``."""
    given = [key for key in TrainingConfig.keys() if hasattr(args, key) and key not in keep]
    given += ["config"] if args.config else []
    given += ["out"] if args.out is not None and "out" not in keep else []
    if given:
        raise UsageError(f"{reason}; drop {', '.join('--' + key.replace('_', '-') for key in given)}")


def run(args: argparse.Namespace) -> int:
    """Train a new run (or resume or continue one) and print its folder; the exit status."""
    from ..runs.experiment import continue_run, resume_run, train_run

    log = None if args.quiet else print
    options = dict(
        log=log,
        progress=args.progress,
        figures=args.figures,
        download=args.download,
        model_out=args.model_out,
        overwrite=args.overwrite,
        tensorboard=args.tensorboard,
    )
    if args.overwrite and args.model_out is None:
        raise UsageError("--overwrite only applies to --model-out FILE; a run folder is never overwritten")
    if args.resume is not None and args.continue_from is not None:
        raise UsageError("give --resume RUN (an interrupted run) or --continue RUN (a finished one), not both")
    if args.continue_from is not None:
        _refuse_options(
            args,
            keep={"epochs", "out"},
            reason=f"--continue {args.continue_from} trains that run "
            "on with its own configuration, changing only --epochs",
        )
        if not hasattr(args, "epochs"):
            raise UsageError(
                f"--continue {args.continue_from} needs --epochs N, the total number of epochs to train to"
            )
        result = continue_run(
            args.continue_from, args.epochs, data_dir=args.data_dir, out=args.out or "runs", **options
        )
    elif args.resume is not None:
        _refuse_options(
            args, keep=set(), reason=f"--resume {args.resume} continues that run with its own configuration and folder"
        )
        result = resume_run(args.resume, data_dir=args.data_dir, **options)
    else:
        config = config_from_args(args)
        result = train_run(config, data_dir=args.data_dir, out=args.out or "runs", **options)
    if args.quiet:
        print(f"Test accuracy: {result.metrics['test_acc'] * 100:.2f}%")
    print(f"Run folder: {result.path}")
    return 0
