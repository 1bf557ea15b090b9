"""`logicdsl check IMAGE... RULES`: check images (files or folders) against a rule file.

Exit codes: 0 all normal, 1 any anomaly, 3 undecided and none anomalous, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import sys


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """Backend options shared by `check` and `eval`."""
    g = p.add_argument_group("backend")
    g.add_argument("--backend", default="auto", choices=("auto", "scene", "vision", "vlm", "openai"),
                   help="perception backend (default: auto — vlm with --model, vision with a profile, "
                        "scene with scene files)")
    g.add_argument("--scene", help="scene JSON for the scene backend (default: <image>.json beside each image)")
    g.add_argument("--coco", help="COCO annotation file for the scene backend (images matched by file name)")
    g.add_argument("--profile", help="station profile for the vision backend (default: <product>.vision.toml)")
    g.add_argument("--model", help="model path or Hugging Face id (vlm), or model name (openai)")
    g.add_argument("--base-url", help="OpenAI-compatible server URL (openai backend)")
    g.add_argument("--think", action="store_true", default=None, help="ask VLMs to reason before answering")
    g.add_argument("--crop-regions", action="store_true", default=None,
                   help="ask VLMs region subqueries on crops of the region")
    g.add_argument("--min-confidence", type=float, default=0.0,
                   help="answers below this confidence make a rule undecided (default 0)")


def backend_kwargs(args: argparse.Namespace, rules_path, first_image=None) -> dict:
    from pathlib import Path

    return dict(rules_path=Path(rules_path), model=args.model, base_url=args.base_url, profile=args.profile,
                scene=args.scene, coco=args.coco, first_image=first_image, think=args.think,
                crop_regions=args.crop_regions)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check images against a rule file",
                       description="Check images (files or folders) against a .logic rule file. Exit 0 when "
                                   "all are normal, 1 on any anomaly, 3 when undecided, 2 on input errors.")
    p.add_argument("paths", nargs="+", metavar="IMAGE... RULES", help="images or folders, then the rule file")
    add_backend_options(p)
    p.add_argument("--format", choices=("text", "json", "jsonl"), default="text")
    p.add_argument("--explain", choices=("fails", "full"), default="fails",
                   help="text output: only failed/undecided rules (default) or everything")
    p.add_argument("--overlay", metavar="DIR", help="write each image with detections and evidence drawn on it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def fail(msg: str) -> int:
    print(f"logicdsl: error: {msg}", file=sys.stderr)
    return 2


def load_rules(rules_path):
    """Load a rule file for `check`/`eval`: the compiled Rules (from the rule cache when the file
    is unchanged), or an exit code after reporting the located diagnostics (or the one-line
    reason the file cannot be read)."""
    from logicdsl.api import load
    from logicdsl.diagnostics import DiagnosticError, render_text

    try:
        return load(rules_path)
    except FileNotFoundError as e:
        return fail(str(e))
    except DiagnosticError as e:
        print(render_text(e.source, e.diagnostics), file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if len(args.paths) < 2:
        return fail("give at least one image and then the rule file: logicdsl check IMAGE... RULES")
    *image_args, rules_arg = args.paths
    rules_path = Path(rules_arg)
    if rules_path.suffix != ".logic" and Path(image_args[-1]).suffix == ".logic":
        return fail(f"the rule file goes last: logicdsl check IMAGE... {image_args[-1]}")

    from logicdsl.engine.backend import BackendError
    from logicdsl.engine.image import find_images

    rules = load_rules(rules_path)
    if isinstance(rules, int):
        return rules

    image_paths = [Path(p) for p in image_args]
    images = find_images(image_paths)  # folders expanded; files (even missing ones) kept, reported per image
    if not images:
        return fail("no images found in " + ", ".join(image_args))

    from logicdsl.api import Engine
    from logicdsl.backends import make_backend

    try:
        backend = make_backend(args.backend, **backend_kwargs(args, rules_path, images[0] if images else None))
        engine = Engine(rules, backend, min_confidence=args.min_confidence)
    except BackendError as e:
        return fail(str(e))
    except ValueError as e:
        return fail(str(e))

    overlay = None
    if args.overlay:
        from logicdsl.cli._overlay import OverlayWriter

        overlay = OverlayWriter(Path(args.overlay), engine)

    from logicdsl.engine.verdict import Verdict, exit_code

    verdicts: list[Verdict] = []
    all_inputs = images
    emit = _emitter(args)
    from logicdsl.cli import start_up_done

    start_up_done()
    show_progress = not args.no_progress and (len(all_inputs) > 1 or any(p.is_dir() for p in image_paths))
    for v in _run_batch(engine, all_inputs, show_progress):
        verdicts.append(v)
        if overlay is not None and v.status != "error":
            overlay.write(v)
        emit(v)
    if args.format == "json":
        import json

        data = [v.model_dump(mode="json") for v in verdicts]
        print(json.dumps(data[0] if len(data) == 1 and len(image_args) == 1 and not Path(image_args[0]).is_dir()
                         else data, indent=2))
    elif args.format == "text" and len(verdicts) > 1:
        _summary(verdicts)
    return exit_code(verdicts)


def _run_batch(engine, inputs, show_progress: bool):
    if not show_progress:
        yield from engine.check_many(inputs)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("check", total=len(inputs))
        for v in engine.check_many(inputs):
            progress.advance(task)
            yield v


def _emitter(args):
    if args.format == "jsonl":
        def emit(v):
            print(v.model_dump_json(), flush=True)
        return emit
    if args.format == "json":
        return lambda v: None
    from rich.console import Console

    from logicdsl.engine.explain import print_verdict

    console = Console(highlight=False)

    def emit(v):
        print_verdict(console, v, args.explain)
    return emit


def _summary(verdicts) -> None:
    from collections import Counter

    from rich.console import Console

    counts = Counter(v.status for v in verdicts)
    parts = [f"{counts[s]} {s}" for s in ("normal", "anomaly", "undecided", "error") if counts[s]]
    Console(highlight=False).print(f"[bold]{len(verdicts)} images:[/] " + ", ".join(parts))
