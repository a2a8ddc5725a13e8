"""CLI subcommands of the goal space: `ptgm codebook` and `ptgm train-encoder`."""

from __future__ import annotations

import argparse

from ptgm.config import add_arguments, from_args


def _codebook(args: argparse.Namespace) -> None:
    from ptgm.goals.build import CodebookConfig, build_codebook

    result = build_codebook(from_args(CodebookConfig, args))
    book = result.codebook
    print(f"codebook: {result.out} ({book.n_codes} codes of dimension {book.dim}, embedder {book.embedder['name']}, "
          f"fingerprint {book.fingerprint})")
    print("codes per stage: " + ", ".join(f"{k} {n}" for k, n in result.coverage.items()))
    for name, path in result.pictures.items():
        print(f"{name}: {path}")


def _train_encoder(args: argparse.Namespace) -> None:
    from ptgm.goals.learned import EncoderConfig, format_encoder_result, train_encoder

    print(format_encoder_result(train_encoder(from_args(EncoderConfig, args))))


def register(sub: argparse._SubParsersAction) -> None:
    from ptgm.goals.build import CodebookConfig
    from ptgm.goals.learned import EncoderConfig

    p = sub.add_parser("codebook", help="cluster goals from the dataset into N codes (the high-level action space)",
                       description="Sample goals from the training split, reduce [goal, action history] with "
                                   "t-SNE, k-means them, and keep the real sample nearest each centre as a code. "
                                   "Writes codebook.npz/.json, config.yaml, scatter.png, codes/, overview.html/.png.")
    add_arguments(p, CodebookConfig)
    p.set_defaults(fn=_codebook)

    p = sub.add_parser("train-encoder", help="train the learned image goal embedder (temporal contrast on pixels)",
                       description="Self-supervised image encoder for `--embedding learned`: frames a few steps "
                                   "apart in an episode are positives (InfoNCE), other frames in the batch negatives.")
    add_arguments(p, EncoderConfig)
    p.set_defaults(fn=_train_encoder)
