"""``neuralnet train``: train a network (the chapter's by default) and write a run folder."""

from __future__ import annotations

import argparse

from ..activations import ACTIVATIONS
from ..config import DATASET_NAMES, EARLY_STOPPING_MONITORS, TrainingConfig
from ..layers import INITIALIZERS
from ..losses import LOSSES
from ..optim import OPTIMIZERS, SCHEDULES
from . import UsageError
from .options import add_data_options

DEFAULTS = TrainingConfig()


def _default(key: str) -> str:
    value = getattr(DEFAULTS, key)
    if isinstance(value, list):
        value = " ".join(map(str, value))
    return f"(default: {value})"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a network and write a run folder",
        description="Train a multilayer perceptron on MNIST or Fashion-MNIST with the chapter's split "
                    "(55,000 / 5,000 / 10,000), print the chapter's per-epoch log and the test accuracy, "
                    "and write a run folder <out>/<timestamp>/ with the configuration, history (CSV and "
                    "JSON), metrics, model (safetensors) and figures. Without options it trains the "
                    "chapter's network: 784-50-10 sigmoid, MSE, SGD with learning rate 0.1, "
                    "mini-batches of 100, 50 epochs, seed 123.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter if False else argparse.HelpFormatter)
    S = argparse.SUPPRESS  # options not given on the command line keep the config file's value
    model = parser.add_argument_group("network")
    model.add_argument("--hidden", type=int, nargs="+", metavar="UNITS", default=S,
                       help=f"units in each hidden layer, e.g. --hidden 512 256 {_default('hidden')}")
    model.add_argument("--activation", choices=sorted(set(ACTIVATIONS) - {"softmax"}), default=S,
                       help=f"activation of the hidden layers {_default('activation')}")
    model.add_argument("--loss", choices=sorted(LOSSES), default=S,
                       help="mse: sigmoid outputs and the chapter's squared error; cross-entropy: "
                            f"softmax outputs and the log-loss {_default('loss')}")
    model.add_argument("--init", choices=sorted(INITIALIZERS), default=S,
                       help="weight initialisation: normal is the chapter's N(0, 0.1); glorot/xavier "
                            f"uniform; he N(0, 2/fan_in) {_default('init')}")
    model.add_argument("--dropout", type=float, metavar="P", default=S,
                       help=f"dropout probability after each hidden layer, in [0, 1) {_default('dropout')}")
    model.add_argument("--shift", type=int, metavar="PIXELS", default=S,
                       help="augment the training images: move each one by a random number of pixels, up "
                            "to PIXELS in each direction, every time it is used (0: off) "
                            f"{_default('shift')}")
    model.add_argument("--dtype", choices=["float32", "float64"], default=S,
                       help=f"floating-point type of weights and data {_default('dtype')}")

    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=S,
                       help=f"sgd (with optional momentum) or adam {_default('optimizer')}")
    optim.add_argument("--lr", "--learning-rate", dest="lr", type=float, metavar="RATE", default=S,
                       help=f"learning rate {_default('lr')}")
    optim.add_argument("--momentum", type=float, default=S,
                       help=f"SGD momentum in [0, 1) {_default('momentum')}")
    optim.add_argument("--nesterov", action="store_true", default=S,
                       help="use Nesterov momentum (needs --momentum)")
    optim.add_argument("--weight-decay", "--l2", dest="weight_decay", type=float, metavar="LAMBDA",
                       default=S, help=f"L2 regularisation strength on the weights {_default('weight_decay')}")
    optim.add_argument("--schedule", choices=sorted(SCHEDULES), default=S,
                       help="learning-rate schedule over the epochs: step (x0.1 every 10 epochs), "
                            f"exponential (x0.95 per epoch), cosine (to 0) {_default('schedule')}")
    optim.add_argument("--epochs", type=int, default=S, help=f"number of epochs {_default('epochs')}")
    optim.add_argument("--batch-size", "--minibatch-size", dest="batch_size", type=int, metavar="N",
                       default=S, help=f"mini-batch size {_default('batch_size')}")
    optim.add_argument("--early-stopping", type=int, metavar="PATIENCE", default=S,
                       help="stop when the validation loss (or --early-stopping-monitor) has not improved "
                            "for PATIENCE epochs and keep the best epoch's weights (default: off)")
    optim.add_argument("--early-stopping-monitor", choices=list(EARLY_STOPPING_MONITORS), default=S,
                       help="what early stopping watches: the validation loss (lower is better) or the "
                            f"validation accuracy (higher is better) {_default('early_stopping_monitor')}")
    optim.add_argument("--seed", type=int, default=S,
                       help=f"seed of the weight initialisation and the shuffling {_default('seed')}")

    data = parser.add_argument_group("data and output")
    data.add_argument("--dataset", choices=list(DATASET_NAMES), default=S,
                      help=f"which data set {_default('dataset')}")
    data.add_argument("--limit", type=int, metavar="N", default=S,
                      help="use a stratified subset of N examples (>= 700) for a quick run; the split "
                           "keeps the chapter's proportions (default: all 70,000)")
    add_data_options(data)
    data.add_argument("--out", default=None, metavar="DIR",
                      help="folder in which the run folder <timestamp>/ is created (default: runs); a new "
                           "run always gets a new folder, an existing one is never written over")
    data.add_argument("--config", metavar="FILE",
                      help="TOML file with any of the keys above (hidden, activation, loss, lr, "
                           "batch_size, ...); options on the command line override it")
    data.add_argument("--threads", type=int, metavar="N", default=S,
                      help="number of BLAS threads (default: the library's own choice)")
    data.add_argument("--no-figures", dest="figures", action="store_false", help="do not draw the figures")
    data.add_argument("--no-progress", dest="progress", action="store_const", const=False, default=None,
                      help="no progress bar (it is shown only on a terminal anyway)")
    data.add_argument("--quiet", action="store_true", help="print only the test accuracy and the run folder")

    safety = parser.add_argument_group("checkpoints and model files")
    safety.add_argument("--resume", metavar="RUN",
                        help="continue the interrupted run in folder RUN from the checkpoint written at the end "
                             "of its last finished epoch, with the run's own configuration and data (the result "
                             "is the one the run would have given without the interruption); network, "
                             "optimisation and data-set options cannot be combined with it")
    safety.add_argument("--continue", dest="continue_from", metavar="RUN",
                        help="train the finished run in folder RUN on to --epochs epochs, from the checkpoint of "
                             "its last epoch, in a new run folder (RUN is left as it is); with a constant, step "
                             "or exponential schedule the result is that of a run of --epochs epochs from the "
                             "start; other network, optimisation and data-set options cannot be combined with it")
    safety.add_argument("--model-out", metavar="FILE",
                        help="also write the trained model to FILE (safetensors); an existing FILE is not "
                             "replaced unless --overwrite is given")
    safety.add_argument("--overwrite", action="store_true",
                        help="allow --model-out to replace an existing file")
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
    from ..experiment import continue_run, resume_run, train_run

    log = None if args.quiet else print
    options = dict(log=log, progress=args.progress, figures=args.figures, download=args.download,
                   model_out=args.model_out, overwrite=args.overwrite)
    if args.overwrite and args.model_out is None:
        raise UsageError("--overwrite only applies to --model-out FILE; a run folder is never overwritten")
    if args.resume is not None and args.continue_from is not None:
        raise UsageError("give --resume RUN (an interrupted run) or --continue RUN (a finished one), not both")
    if args.continue_from is not None:
        _refuse_options(args, keep={"epochs", "out"}, reason=f"--continue {args.continue_from} trains that run "
                        "on with its own configuration, changing only --epochs")
        if not hasattr(args, "epochs"):
            raise UsageError(f"--continue {args.continue_from} needs --epochs N, the total number of epochs "
                             "to train to")
        result = continue_run(args.continue_from, args.epochs, data_dir=args.data_dir, out=args.out or "runs",
                              **options)
    elif args.resume is not None:
        _refuse_options(args, keep=set(), reason=f"--resume {args.resume} continues that run with its own "
                        "configuration and folder")
        result = resume_run(args.resume, data_dir=args.data_dir, **options)
    else:
        config = config_from_args(args)
        result = train_run(config, data_dir=args.data_dir, out=args.out or "runs", **options)
    if args.quiet:
        print(f"Test accuracy: {result.metrics['test_acc'] * 100:.2f}%")
    print(f"Run folder: {result.path}")
    return 0
