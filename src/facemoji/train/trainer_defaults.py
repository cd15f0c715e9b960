"""Training defaults, readable without PyTorch (for ``--help``)."""

DEFAULTS = {"arch": "emovgg-x", "epochs": 150, "batch_size": 128, "lr": 0.05, "ferplus_weight": 0.3}
