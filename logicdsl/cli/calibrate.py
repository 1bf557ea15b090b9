"""`logicdsl calibrate TEMPLATE IMAGES... --out PROFILE`: fit a vision profile to annotated good images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", help="fit a vision profile's colour ranges and size bounds from annotated good images",
        description="Fit a station profile's colour ranges (HSV percentiles of the annotated pixels) and size "
                    "bounds (annotated range widened by --margin) from good images with scene JSON beside them "
                    "(<image>.json). The template says which objects exist and how each is segmented. "
                    "Exit 0 on success, 2 on input errors.")
    p.add_argument("template", help="the profile to start from (.vision.toml)")
    p.add_argument("images", nargs="+", help="good images or dataset folders, each image with <image>.json")
    p.add_argument("--out", "-o", required=True, help="where to write the calibrated profile")
    p.add_argument("--objects", help="comma-separated objects to calibrate (default: all)")
    p.add_argument("--margin", type=float, default=0.35, help="relative widening of size bounds (default 0.35)")
    p.add_argument("--max-images", type=int, default=20, help="use at most this many images (default 20)")
    p.add_argument("--all-labels", action="store_true",
                   help="also use images a dataset's labels.jsonl marks anomalous (default: normal only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from logicdsl.calibrate import CalibrationError, calibrate, dump_profile, good_only, pairs_from
    from logicdsl.engine.backend import BackendError
    from logicdsl.engine.image import ImageError
    from logicdsl.engine.scene_format import SceneError
    from logicdsl.engine.vision_profile import load_profile

    try:
        template = load_profile(args.template)
        pairs = pairs_from([Path(p) for p in args.images])
        if not args.all_labels:
            pairs = good_only(pairs)
        pairs = pairs[: max(1, args.max_images)]
        if not pairs:
            raise CalibrationError("no image with a scene annotation (<image>.json) among the inputs")
        objects = [o.strip() for o in args.objects.split(",")] if args.objects else None
        profile, report = calibrate(template, pairs, margin=args.margin, objects=objects)
    except (BackendError, CalibrationError, SceneError, ImageError, OSError) as e:
        print(f"logicdsl: error: {e}", file=sys.stderr)
        return 2
    header = (f"calibrated by `logicdsl calibrate` from {len(pairs)} annotated image(s), template {args.template}\n"
              + "\n".join(report.lines))
    out = Path(args.out)
    out.write_text(dump_profile(profile, header), encoding="utf-8")
    for line in report.lines:
        print(line, file=sys.stderr)
    print(f"wrote {out}", file=sys.stderr)
    return 0
