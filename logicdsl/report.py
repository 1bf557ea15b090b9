"""The evaluation report folder: ``metrics.json``, ``records.jsonl``, ``confusion.png`` and ``index.html``.

``write_report(dir, metrics, records, overlay=...)``: ``overlay`` is the hook for pictures of the
misclassified images — a callable ``(record, report_dir) -> relative path or None`` that draws the
evidence of one wrong image into the report folder; the HTML page shows whatever it returns.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from .evaluate import Record

OverlayHook = Callable[[Record, Path], "str | None"]


def write_metrics(path: str | Path, metrics: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(metrics, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def confusion_png(path: str | Path, confusion: dict[str, Any], title: str = "") -> None:
    """Draw the confusion matrix with PIL: rows true, columns predicted, cells shaded by row share."""
    from PIL import Image, ImageDraw, ImageFont

    rows: list[str] = confusion["rows"]
    cols: list[str] = confusion["columns"]
    m: list[list[int]] = confusion["matrix"]
    try:
        font = ImageFont.load_default(size=14)
        small = ImageFont.load_default(size=12)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        font = small = ImageFont.load_default()
    cell = 44
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = int(max([probe.textlength(r, font=font) for r in rows] + [60])) + 20
    top = int(max([probe.textlength(c, font=small) for c in cols] + [60])) + 40
    W = left + cell * len(cols) + 20
    H = top + cell * len(rows) + 40
    im = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(im)
    if title:  # the default font lacks some punctuation: keep the picture's title ASCII
        title = title.replace("\u2014", "-").encode("ascii", "replace").decode()
        d.text((10, 8), title, fill="black", font=font)
    # column labels, rotated
    for j, c in enumerate(cols):
        w = int(probe.textlength(c, font=small)) + 4
        lab = Image.new("RGB", (w, 16), "white")
        ImageDraw.Draw(lab).text((2, 1), c, fill="black", font=small)
        lab = lab.rotate(90, expand=True)
        im.paste(lab, (left + j * cell + cell // 2 - 8, top - 8 - lab.height))
    for i, r in enumerate(rows):
        y = top + i * cell
        d.text((left - 10, y + cell // 2), r, fill="black", font=font, anchor="rm")
        total = sum(m[i]) or 1
        for j in range(len(cols)):
            v = m[i][j]
            share = v / total
            x = left + j * cell
            diag = rows[i] == cols[j]
            base = (40, 120, 60) if diag else (190, 50, 40)
            colour = tuple(int(255 - share * (255 - b)) for b in base)
            d.rectangle((x, y, x + cell - 1, y + cell - 1), fill=colour, outline=(200, 200, 200))
            if v:
                d.text((x + cell // 2, y + cell // 2), str(v), fill="black" if share < 0.6 else "white", font=font,
                       anchor="mm")
    d.text((left, H - 24), "columns: predicted, rows: true", fill=(90, 90, 90), font=small)
    im.save(path)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html(path: str | Path, metrics: dict[str, Any], records: Sequence[Record], *, title: str,
               overlays: dict[str, str] | None = None, skipped: Sequence[Any] = ()) -> None:
    overlays = overlays or {}
    b = metrics["binary"]
    summary = _table(["metric", "value"], [
        ("images", metrics["n"]), ("LAC accuracy", f"{metrics['lac_accuracy']:.3f}"),
        ("exact-set accuracy", f"{metrics['exact_set_accuracy']:.3f}"), ("macro-F1", f"{metrics['macro_f1']:.3f}"),
        ("detection accuracy", f"{b['accuracy']:.3f}"), ("detection F1", f"{b['f1']:.3f}"),
        ("undecided rate", f"{metrics['undecided_rate']:.3f}"), ("errors", metrics["errors"]),
        ("images/s", f"{metrics.get('images_per_second', 0):.1f}"),
    ])
    per_class = _table(["class", "precision", "recall", "F1", "support", "predicted"], [
        (c, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", v["support"], v["predicted"])
        for c, v in metrics["per_class"].items() if v["support"] or v["predicted"]
    ])
    wrong = [r for r in records if not r.correct]
    wrong_rows = []
    for r in wrong[:500]:
        pic = overlays.get(r.image)
        wrong_rows.append(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
                Path(r.image).name, ", ".join(r.defect_types) or "-", ", ".join(r.truth) or "normal",
                r.predicted_class, ", ".join(r.predicted_violations) or "-", r.error or ""))
            + (f'<td><a href="{html.escape(pic)}"><img src="{html.escape(pic)}" height="120"></a></td>' if pic
               else "<td></td>") + "</tr>")
    wrong_table = ("<table><thead><tr><th>image</th><th>defect types</th><th>true rules</th><th>predicted</th>"
                   "<th>predicted violations</th><th>error</th><th>overlay</th></tr></thead><tbody>"
                   + "".join(wrong_rows) + "</tbody></table>") if wrong else "<p>none</p>"
    skipped_html = _table(["image", "reason"], [(s.image, s.reason) for s in skipped]) if skipped else "<p>none</p>"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}} th{{background:#f3f3f3}}</style></head>
<body><h1>{html.escape(title)}</h1>
<h2>Summary</h2>{summary}
<h2>Per class</h2>{per_class}
<h2>Confusion matrix</h2><img src="confusion.png" alt="confusion matrix">
<h2>Misclassified ({len(wrong)})</h2>{wrong_table}
<h2>Skipped ({len(skipped)})</h2>{skipped_html}
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")


def write_report(out: str | Path, metrics: dict[str, Any], records: Sequence[Record], *, title: str = "logicdsl eval",
                 overlay: OverlayHook | None = None, skipped: Sequence[Any] = ()) -> Path:
    """Write the whole report folder; returns the path of its HTML page."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_metrics(out / "metrics.json", metrics)
    with open(out / "records.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.to_dict()) + "\n")
    confusion_png(out / "confusion.png", metrics["confusion"], title)
    overlays: dict[str, str] = {}
    if overlay is not None:
        for r in records:
            if not r.correct:
                try:
                    pic = overlay(r, out)
                except Exception:  # noqa: BLE001 - a picture must not break the report
                    pic = None
                if pic:
                    overlays[r.image] = pic
    page = out / "index.html"
    write_html(page, metrics, records, title=title, overlays=overlays, skipped=skipped)
    return page
