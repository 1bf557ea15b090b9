"""`logicdsl synth PRODUCT --out DIR -n N --seed S`: render a synthetic LOCO-like dataset with ground truth."""

from __future__ import annotations

import argparse
import sys

PRODUCTS = ("breakfast_box", "juice_bottle", "pushpins", "screw_bag", "splicing_connectors")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="render synthetic product images with scenes and labels",
                       description="Render synthetic LOCO-like images of a product: normal units and every "
                                   "logical defect type, each with its scene JSON and its labels (labels.jsonl).")
    p.add_argument("product", metavar="PRODUCT", help=f"one of: {', '.join(PRODUCTS)}")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("-n", type=int, default=100, metavar="N", help="number of images (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files (default 0)")
    p.add_argument("--anomaly-rate", type=float, default=0.5, metavar="R",
                   help="share of anomalous units, cycling through every defect type (default 0.5)")
    p.add_argument("--format", dest="image_format", choices=("png", "jpg"), default="png",
                   help="image format (default png: lossless, noisy frames stored uncompressed, 4-6 MB; jpg: 0.15-0.3 MB, a little slower)")
    p.add_argument("--scale", type=float, default=1.0, metavar="S",
                   help="resize images and scenes by S (0.05 .. 1; default 1, LOCO-like resolution)")
    p.add_argument("--no-noise", action="store_true", help="no sensor noise (much smaller PNG files)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: the number of CPUs, at most 8)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def fail(msg: str) -> int:
    print(f"logicdsl: error: {msg}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import os

    from logicdsl.synth import SynthError, generate, product_module

    try:
        product_module(args.product)
    except SynthError as e:
        return fail(str(e))
    if args.n < 1:
        return fail(f"-n must be at least 1 (got {args.n})")
    if not 0.0 <= args.anomaly_rate <= 1.0:
        return fail(f"--anomaly-rate must be between 0 and 1 (got {args.anomaly_rate})")
    jobs = args.jobs if args.jobs is not None else max(1, min(8, os.cpu_count() or 1))
    if jobs < 1:
        return fail(f"--jobs must be at least 1 (got {jobs})")

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    err = Console(stderr=True)
    show = not args.no_progress and err.is_terminal
    try:
        with Progress(TextColumn("[bold]synth[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, disable=not show, transient=True) as bar:
            task = bar.add_task(args.product, total=args.n)
            summary = generate(args.product, args.out, args.n, args.seed, args.anomaly_rate, fmt=args.image_format,
                               jobs=jobs, progress=lambda k: bar.advance(task, k),
                               scale=args.scale, noise=not args.no_noise)
    except SynthError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"cannot write to {args.out}: {e.strerror or e}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_label.items(), key=lambda kv: -kv[1]))
    print(f"wrote {summary.n} {args.product} images to {summary.out} in {summary.seconds:.1f}s "
          f"({summary.images_per_second:.1f} images/s); labels: {counts}")
    return 0
