"""``facemoji train``: train the emotion model (needs ``pip install 'facemoji[train]'``)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train an emotion model on FER2013-style data",
        description="Train the emotion classifier on the CPU. DATA may be Kaggle's fer2013.csv (split by Usage), a "
        "split CSV (emotion,pixels), a folder of class folders (0..6 or class names; with train/val sub-folders or "
        "not) or a .npz with x (N,48,48) and y (N,). A checkpoint is written every epoch (last.pt, best.pt), with "
        "config.json, history.json and training_curves.png beside it; Ctrl-C keeps the last checkpoint and --resume "
        "continues from it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="the shipped model:\n  facemoji train --data ../shared/data/fer2013_train.npz "
        "--val-data ../shared/data/fer2013_publictest.npz \\\n"
        "      --ferplus ../shared/data/ferplus_votes_train_publictest.npz --out runs/emotion\n"
        "the original design's baseline:\n  facemoji train --data fer2013.csv --recipe original --out runs/original",
    )
    from facemoji.train.trainer_defaults import DEFAULTS as d

    p.add_argument("--data", required=True, help="training data (any supported form)")
    p.add_argument("--val-data", help="validation data (default: the val/PublicTest split of --data)")
    p.add_argument("--out", default="runs/emotion", help="folder for checkpoints and logs (default: runs/emotion)")
    p.add_argument("--recipe", choices=("facemoji", "original"), default="facemoji",
                   help="facemoji: our recipe; original: the original design's network, SGD 0.01 Nesterov, "
                   "shear/zoom/flip augmentation")
    p.add_argument("--arch", default=None, help=f"network (default: {d['arch']}; 'original' for the original recipe)")
    p.add_argument("--epochs", type=int, default=None, help=f"epochs (default: {d['epochs']}; 60 for the original recipe)")
    p.add_argument("--batch-size", type=int, default=None, help=f"batch size (default: {d['batch_size']}; 64 original)")
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default: {d['lr']}; 0.01 original)")
    p.add_argument("--ferplus", help="FER+ votes .npz for soft labels (needs data with FER2013 row indices)")
    p.add_argument("--ferplus-weight", type=float, default=d["ferplus_weight"],
                   help=f"weight of the FER+ soft label in the target (default: {d['ferplus_weight']})")
    p.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="mix pairs of training faces and their targets with a Beta(ALPHA, ALPHA) weight "
                        "(default: 0, off; 0.2 is usual)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    p.add_argument("--device", default="cpu", help="torch device to train on (default: cpu; e.g. cuda)")
    p.add_argument("--no-bf16", action="store_true", help="train in float32 instead of bfloat16 autocast")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--export", metavar="ONNX", help="export the best checkpoint to this ONNX file at the end")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facemoji.errors import FacemojiError, InputError

    try:
        from facemoji.train.trainer import TrainConfig, train
    except ModuleNotFoundError as e:
        if e.name == "torch":
            raise FacemojiError("training needs PyTorch: pip install 'facemoji[train]'") from None
        raise
    from facemoji.train.data import DataError

    original = args.recipe == "original"
    cfg = TrainConfig(
        data=args.data, val_data=args.val_data, out=args.out, recipe=args.recipe,
        arch=args.arch or ("original" if original else TrainConfig.arch),
        epochs=args.epochs or (60 if original else TrainConfig.epochs),
        batch_size=args.batch_size or (64 if original else TrainConfig.batch_size),
        lr=args.lr or (0.01 if original else TrainConfig.lr),
        weight_decay=0.0 if original else TrainConfig.weight_decay,
        warmup_epochs=0 if original else TrainConfig.warmup_epochs,
        label_smoothing=0.0 if original else TrainConfig.label_smoothing,
        ferplus=args.ferplus, ferplus_weight=args.ferplus_weight, mixup=args.mixup, limit=args.limit, seed=args.seed,
        threads=args.threads, bf16=not args.no_bf16, device=args.device,
    )
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise InputError("--epochs, --batch-size and --lr must be positive")
    if cfg.mixup < 0:
        raise InputError("--mixup must be 0 (off) or a positive Beta parameter")
    try:
        best = train(cfg, resume=args.resume)
    except DataError as e:
        raise InputError(str(e)) from None
    except FileNotFoundError as e:
        raise InputError(str(e)) from None
    print(f"best checkpoint: {best}")
    if args.export:
        from facemoji.train.export import export_onnx

        export_onnx(best, args.export)
        print(f"exported {args.export}")
    return 0
