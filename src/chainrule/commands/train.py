"""``chainrule train``: placeholder until the neural-network toolkit lands."""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import chainrule as cr

    x = cr.tensor(np.linspace(-1, 1, 5), requires_grad=True)
    loss = (cr.sigmoid(x) ** 2).sum()
    loss.backward()
    print(f"loss {float(loss):.4f}; gradient {np.round(x.grad.numpy(), 4).tolist()}")
    return 0
