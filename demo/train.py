"""A small stand-in for a training script: argparse flags, loss and accuracy per epoch."""

import argparse
import math
import random

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.05, help="learning rate")
parser.add_argument("--epochs", type=int, default=5, help="passes over the data")
parser.add_argument("--dropout", type=float, default=0.1, help="dropout rate")
parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
args = parser.parse_args()

rng = random.Random(hash((args.lr, args.dropout, args.optimizer)) & 0xFFFF)
best = 0.2 + abs(math.log10(args.lr) + 1.5) * 0.15 + args.dropout * 0.3
for epoch in range(1, args.epochs + 1):
    loss = best + (1.5 - best) * math.exp(-epoch * 0.8) + rng.uniform(0, 0.02)
    val_loss = loss + 0.05 + rng.uniform(0, 0.03)
    print(f"epoch {epoch}/{args.epochs}")
    print(f"loss: {loss:.4f} (step {epoch})")
    print(f"acc: {1 - loss / 2:.4f}")
    print(f"val_loss: {val_loss:.4f}")
