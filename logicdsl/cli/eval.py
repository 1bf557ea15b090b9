"""`logicdsl eval DATASET RULES`: check every image of a labelled dataset and score the verdicts.

DATASET is a folder in the project's format (``labels.jsonl``, written by `logicdsl synth`) or a
MVTec LOCO AD category folder (labels from its masks through ``loco.toml`` beside the rules, or --map).
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from logicdsl.cli.check import add_backend_options

    p = sub.add_parser("eval", help="evaluate rules and a backend on a labelled dataset",
                       description="Check every image of a dataset (the project's format or a MVTec LOCO "
                                   "category folder) and report LAC accuracy, macro-F1, per-rule "
                                   "precision/recall/F1, binary detection, undecided rate and the confusion matrix.")
    p.add_argument("dataset", metavar="DATASET", help="dataset folder (labels.jsonl) or a LOCO category folder")
    p.add_argument("rules", metavar="RULES", help="the .logic rule file")
    add_backend_options(p)
    p.add_argument("--map", metavar="FILE", help="LOCO map (default: loco.toml beside the rule file)")
    p.add_argument("--train", action="store_true", help="LOCO: also evaluate train/good (normal) images")
    p.add_argument("--report", metavar="DIR", help="write metrics.json, records.jsonl, confusion.png and index.html")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images")
    p.add_argument("--json", action="store_true", help="print metrics.json to stdout instead of tables")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def fail(msg: str) -> int:
    print(f"logicdsl: error: {msg}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    rules_path = Path(args.rules)
    if rules_path.suffix != ".logic" and Path(args.dataset).suffix == ".logic":
        return fail(f"the dataset goes first: logicdsl eval DATASET {args.dataset}")
    if args.jobs < 1:
        return fail(f"--jobs must be at least 1 (got {args.jobs})")
    if args.limit is not None and args.limit < 1:
        return fail(f"--limit must be at least 1 (got {args.limit})")

    from logicdsl.cli.check import backend_kwargs, load_rules
    from logicdsl.datasets import DatasetError, find_loco_map, load_dataset, load_loco_map
    from logicdsl.engine.backend import BackendError
    from logicdsl.evaluate import EvalSpec, compute_metrics, make_backend, run_eval

    rules = load_rules(rules_path)
    if isinstance(rules, int):
        return rules

    try:
        map_path = Path(args.map) if args.map else find_loco_map(rules_path)
        loco_map = load_loco_map(map_path) if map_path else None
        dataset = load_dataset(args.dataset, loco_map=loco_map, rule_order=rules.names, include_train=args.train)
    except DatasetError as e:
        return fail(str(e))
    items = dataset.items[: args.limit] if args.limit else dataset.items
    if not items:
        return fail(f"{args.dataset}: no images to evaluate" + (f" ({len(dataset.skipped)} skipped)" if dataset.skipped else ""))

    opts = backend_kwargs(args, rules_path, first_image=items[0].image)
    opts.pop("rules_path")
    first_image = opts.pop("first_image")
    backend = args.backend
    try:
        if backend == "auto":
            from logicdsl.backends import resolve_auto

            backend = resolve_auto(rules_path=rules_path, model=args.model, base_url=args.base_url,
                                   profile=args.profile, scene=args.scene, coco=args.coco, first_image=first_image)
        spec = EvalSpec(str(rules_path), backend, opts, args.min_confidence)
        make_backend(spec, rules)  # fail early, with one line, when the backend cannot be built
    except BackendError as e:
        return fail(str(e))

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    err = Console(stderr=True)
    show = not args.no_progress and err.is_terminal
    with Progress(TextColumn("[bold]eval[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, disable=not show, transient=True) as bar:
        task = bar.add_task(rules.product, total=len(items))
        records, seconds = run_eval(items, spec, jobs=args.jobs, progress=lambda k: bar.advance(task, k))

    metrics = compute_metrics(records, rules.names)
    metrics.update(dataset=str(dataset.root), dataset_kind=dataset.kind, product=rules.product, backend=backend,
                   rules=str(rules_path), skipped=len(dataset.skipped), seconds=round(seconds, 3),
                   images_per_second=round(len(records) / seconds, 2) if seconds > 0 else None, jobs=args.jobs)
    if args.report:
        from logicdsl.cli._overlay import report_overlays
        from logicdsl.report import write_report

        try:
            page = write_report(args.report, metrics, records, title=f"logicdsl eval — {rules.product} ({backend})",
                                overlay=report_overlays(spec, items), skipped=dataset.skipped)
        except OSError as e:
            return fail(f"cannot write the report to {args.report}: {e.strerror or e}")
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        _print_tables(metrics, dataset)
        if args.report:
            print(f"report: {page}")
    errors = [r for r in records if r.status == "error"]
    if errors:
        first = errors[0]
        print(f"logicdsl: {len(errors)} image(s) could not be checked; first: {Path(first.image).name}: {first.error}",
              file=sys.stderr)
    return 0


def _print_tables(metrics: dict, dataset) -> None:
    from rich.console import Console
    from rich.table import Table

    from logicdsl.evaluate import summarize

    con = Console()
    t = Table(title=f"{metrics['product']} — {metrics['backend']} backend", show_header=False)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in summarize(metrics):
        t.add_row(k, v)
    t.add_row("skipped", str(metrics["skipped"]))
    if metrics.get("images_per_second"):
        t.add_row("images/s", f"{metrics['images_per_second']:.1f}")
    con.print(t)
    pc = Table(title="per class")
    for h in ("class", "precision", "recall", "F1", "support", "predicted"):
        pc.add_column(h, justify="left" if h == "class" else "right")
    for c, v in metrics["per_class"].items():
        if v["support"] or v["predicted"]:
            pc.add_row(c, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(v["support"]),
                       str(v["predicted"]))
    con.print(pc)
    conf = metrics["confusion"]
    if conf["rows"] and len(conf["columns"]) <= 16:
        ct = Table(title="confusion (rows true, columns predicted)")
        ct.add_column("")
        for i, c in enumerate(conf["columns"]):
            ct.add_column(str(i), justify="right")
        for name, row in zip(conf["rows"], conf["matrix"]):
            ct.add_row(name, *[str(v) if v else "·" for v in row])
        con.print(ct)
        con.print("columns: " + ", ".join(f"{i}={c}" for i, c in enumerate(conf["columns"])))
    if dataset.skipped:
        reasons: dict[str, int] = {}
        for s in dataset.skipped:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        for reason, k in reasons.items():
            con.print(f"skipped {k}: {reason}")
