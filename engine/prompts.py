"""Prompts for vision-language models, one per subquery kind, and robust parsing of their answers.

Pure Python (no torch): shared by the ``vlm`` (transformers) and ``openai`` (HTTP) backends.

Every prompt asks for a short answer: a number, ``yes``/``no``, one value of a closed set, or a JSON
list of boxes. With ``think=True`` the model is asked to reason first and to put the final answer in
``<answer>…</answer>`` (after ``<think>…</think>``); parsing then reads the answer tag, falling back
to the text after ``</think>``, then to the whole text.

Parsing never raises. A reply that cannot be read becomes ``Answer.failed("unparseable answer: …",
raw=text)`` — the evaluator's *undecided* — with the model's full text kept as evidence.

What the parsers accept:
  - counts: digits (``3``, ``There are 3 pins.``), number words (``three``, ``twenty-one``,
    ``a dozen``), ``no``/``none``/``zero`` → 0; negative or fractional counts are refused;
  - booleans: yes/no and their variants (``Yes.``, ``yeah``, ``nope``, ``true``, ``False``), first
    word first, then any unambiguous yes/no word;
  - closed sets: the value itself (any case, quotes, ``_`` or ``-`` for spaces), or the one value
    named in a sentence (longest match wins: ``dark red`` over ``red``); a value outside the set
    (``crimson`` for ``red, blue``) or two different values is unparseable;
  - numbers: the first decimal number (``12.5 mm``), or a number word;
  - boxes: a JSON list (bare, inside a ```json fence, or with trailing commas / single quotes) of
    objects with ``bbox_2d``/``bbox``/``box``/``[x1,y1,x2,y2]``, Qwen2-VL's
    ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``, or bare ``[x1, y1, x2, y2]`` lists; coordinates
    are read in the model's convention (:class:`BoxFormat`) and turned into image fractions.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, Sequence

from logicdsl.record import replace

from .subquery import (
    Answer,
    Attribute,
    AttributeSpec,
    Count,
    Detect,
    Exists,
    Instance,
    Measure,
    Region,
    Relation,
    Subquery,
)

# --------------------------------------------------------------------------------------------
# box conventions


@dataclass(frozen=True)
class BoxFormat:
    """How a model writes box coordinates.

    - ``pixels``: pixels of a ``width`` x ``height`` image (Qwen2.5-VL: the image *as the model saw
      it*, after its processor's resize — the backend passes that size);
    - ``norm1000``: integers 0..1000 relative to width and height (Qwen2-VL, Qwen3-VL);
    - ``fraction``: 0..1 fractions of width and height.
    """

    kind: Literal["pixels", "norm1000", "fraction"] = "fraction"
    width: int = 0
    height: int = 0

    def instruction(self) -> str:
        if self.kind == "pixels" and self.width and self.height:
            return (f"Coordinates are in pixels of the {self.width}x{self.height} image "
                    f"(x from 0 to {self.width}, y from 0 to {self.height}).")
        if self.kind == "norm1000":
            return "Coordinates are integers from 0 to 1000, relative to the image width and height."
        return "Coordinates are fractions from 0 to 1 of the image width and height."

    def to_fraction(self, box: Sequence[float]) -> tuple[float, float, float, float] | None:
        """Convert one box; ``None`` for a degenerate box. Tolerates the usual slips: a model that
        answers in fractions when asked for pixels, or in 0..1000 when asked for fractions."""
        x0, y0, x1, y1 = (float(v) for v in box)
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            return None
        biggest = max(abs(x0), abs(y0), abs(x1), abs(y1))
        kind = self.kind
        if kind != "fraction" and biggest <= 1.0 and any(v != int(v) for v in (x0, y0, x1, y1)):
            kind = "fraction"  # pixels or 0..1000 asked, fractions given
        if kind == "fraction" and biggest > 1.0:
            kind = "norm1000" if biggest <= 1000 else "pixels"
        if kind == "pixels":
            if not (self.width and self.height):
                return None
            sx, sy = float(self.width), float(self.height)
        elif kind == "norm1000":
            sx = sy = 1000.0
        else:
            sx = sy = 1.0
        fx0, fx1 = sorted((x0 / sx, x1 / sx))
        fy0, fy1 = sorted((y0 / sy, y1 / sy))
        fx0, fy0 = max(0.0, fx0), max(0.0, fy0)
        fx1, fy1 = min(1.0, fx1), min(1.0, fy1)
        if fx1 - fx0 <= 0 or fy1 - fy0 <= 0:
            return None
        return (fx0, fy0, fx1, fy1)


def box_format_for_model(model_type: str | None, requested: str = "auto") -> str:
    """The box convention to ask for: ``requested`` unless ``auto``, then by model family."""
    if requested != "auto":
        return requested
    mt = (model_type or "").lower().replace("-", "_").replace(".", "_")
    if "qwen2_5_vl" in mt or "qwen2_5vl" in mt:
        return "pixels"
    if "qwen2_vl" in mt or "qwen3_vl" in mt or "qwen3vl" in mt:
        return "norm1000"
    return "fraction"


# --------------------------------------------------------------------------------------------
# prompts

THINK_INSTRUCTION = (
    "Think step by step inside <think> </think>, then give only the final answer inside "
    "<answer> </answer>."
)

#: default generation budgets per kind (tokens); think mode adds THINK_TOKENS
MAX_NEW_TOKENS = {"count": 8, "exists": 4, "relation": 4, "attribute": 12, "detect": 320, "measure": 12}
THINK_TOKENS = 256

YES_NO = ("yes", "no")


@dataclass(frozen=True)
class Prompt:
    """The user text for one subquery (the image goes before it), and how to read the reply.

    ``candidates`` is the closed answer set (``yes``/``no`` or an enum's values) used for
    token-probability confidence; empty for open answers (counts, numbers, boxes).
    """

    text: str
    kind: str
    max_new_tokens: int
    candidates: tuple[str, ...] = ()


def describe_region(region: Region) -> str:
    """A region in words a model can act on: the rule's name and the box it stands for."""
    if region.kind == "box" and region.box is not None:
        x0, y0, x1, y1 = region.box
        return (f"in the area `{region.name}` of the image, i.e. x from {_pct(x0)} to {_pct(x1)} of the width "
                f"and y from {_pct(y0)} to {_pct(y1)} of the height (from the top left corner)")
    if region.kind == "object_box" and region.box is not None:
        x0, y0, x1, y1 = region.box
        what = region.object_description or region.object
        return (f"in the `{region.name}` part of {what} (x from {_pct(x0)} to {_pct(x1)} and y from "
                f"{_pct(y0)} to {_pct(y1)} of its bounding box)")
    return region.describe()


def _pct(v: float) -> str:
    return f"{round(v * 100, 1):g}%"


def _question(q: Subquery, on_crop: bool) -> str:
    """The subquery's own question, with regions spelled out (or dropped when asked on a crop)."""
    if isinstance(q, (Count, Exists)) and q.region is not None:
        if on_crop:
            return replace(q, region=None).question()
        base = replace(q, region=None).question()
        where = describe_region(q.region)
        if isinstance(q, Exists):
            base = base.removesuffix(" in the image?") + "?"
        return base[:-1] + f" {where}?"
    return q.question()


def _attr_hint(spec: AttributeSpec) -> str:
    if spec.kind == "enum":
        return f'"{spec.name}": one of ' + " | ".join(f'"{v}"' for v in spec.values)
    if spec.kind == "bool":
        return f'"{spec.name}": true or false'
    rng = ""
    if spec.low is not None and spec.high is not None:
        rng = f" from {spec.low:g} to {spec.high:g}"
    return f'"{spec.name}": a number{rng}'


def build_prompt(q: Subquery, *, box_format: BoxFormat | None = None, think: bool = False,
                 on_crop: bool = False, max_new_tokens: Mapping[str, int] | None = None) -> Prompt:
    """The prompt for one subquery. ``on_crop``: the image is already the subquery's region."""
    budgets = {**MAX_NEW_TOKENS, **(max_new_tokens or {})}
    budget = budgets.get(q.kind, 16)
    candidates: tuple[str, ...] = ()
    if isinstance(q, Count):
        fmt = "Answer with a single number."
        text = f"{_question(q, on_crop)} {fmt}"
    elif isinstance(q, (Exists, Relation)):
        text = f"{_question(q, on_crop)} Answer yes or no."
        candidates = YES_NO
    elif isinstance(q, Attribute):
        text = q.question()  # already says how to answer
        if q.attribute.kind == "enum":
            candidates = tuple(q.attribute.values)
        elif q.attribute.kind == "bool":
            candidates = YES_NO
    elif isinstance(q, Detect):
        bf = box_format or BoxFormat()
        fields = ['"bbox_2d": [x1, y1, x2, y2]', '"label": "' + q.object + '"']
        fields += [_attr_hint(a) for a in q.attributes]
        text = (f"{q.question()} Output a JSON list with one object per instance: "
                f"[{{{', '.join(fields)}}}]. {bf.instruction()} Output [] if there is none. "
                "Output only the JSON.")
    elif isinstance(q, Measure):
        text = f"{q.question()} Answer with a number between 0 and 1."
    else:  # pragma: no cover - every kind is handled above
        text = q.question()
    if think:
        text = f"{text}\n{THINK_INSTRUCTION}"
        budget += THINK_TOKENS
    return Prompt(text=text, kind=q.kind, max_new_tokens=budget, candidates=candidates)


# --------------------------------------------------------------------------------------------
# answer extraction

_ANSWER_RE = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S | re.I)
_THINK_END_RE = re.compile(r"</think>", re.I)


def extract_answer(text: str, think: bool = False) -> str:
    """The final-answer part of a reply: ``<answer>`` content, else after ``</think>``, else all."""
    if text is None:
        return ""
    m = _ANSWER_RE.search(text)
    if m:
        return m.group(1).strip()
    parts = _THINK_END_RE.split(text)
    if len(parts) > 1:
        return parts[-1].strip()
    if think and re.search(r"<think>", text, re.I):
        return ""  # reasoning never finished: no answer
    return text.strip()


def answer_offset(text: str) -> int:
    """Character offset where the final answer starts in ``text`` (for locating its first token)."""
    m = _ANSWER_RE.search(text)
    if m:
        start = m.start(1)
    else:
        m2 = None
        for m2 in _THINK_END_RE.finditer(text):
            pass
        start = m2.end() if m2 else 0
    while start < len(text) and text[start].isspace():
        start += 1
    return start


def _norm(s: str) -> str:
    s = s.strip().lower()
    s = re.sub(r"^[\s\"'`*_.:\-]+|[\s\"'`*_.!?,;:\-]+$", "", s)
    return re.sub(r"\s+", " ", s)


# --------------------------------------------------------------------------------------------
# numbers

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "single": 1, "dozen": 12,
    "once": 1, "twice": 2, "pair": 2, "couple": 2,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_ZERO_WORDS = {"no", "none", "nothing", "neither", "nil", "zero"}
_NUM_RE = re.compile(r"(?<![\w.])[-+−]?\d+(?:[.,]\d+)?(?![\w])|(?<![\w.])[-+−]?\d*\.\d+")


def _words_number(s: str) -> int | None:
    """The first number written in words: ``three``, ``twenty-one``, ``one hundred and five``."""
    words = re.findall(r"[a-z]+", s.lower())
    total, current, seen = 0, 0, False
    for w in words:
        if w in _UNITS:
            if seen and current % 10 == 0 and current >= 20 and _UNITS[w] < 10:
                current += _UNITS[w]
            elif seen and w != "dozen":
                break
            elif w == "dozen":
                current = (current or 1) * 12
            else:
                current += _UNITS[w]
            seen = True
        elif w in _TENS:
            if seen and current % 100 != 0:
                break
            current += _TENS[w]
            seen = True
        elif w == "hundred" and seen:
            current *= 100
        elif w == "thousand" and seen:
            total += current * 1000
            current = 0
        elif w == "and" and seen:
            continue
        elif w in ("a", "an") and not seen:
            continue
        elif seen:
            break
    return total + current if seen else None


def _first_number(s: str) -> float | None:
    m = _NUM_RE.search(s)
    if not m:
        return None
    tok = m.group(0).replace("−", "-")
    if "," in tok and "." not in tok:
        # "1,5" (decimal comma) vs "1,000" (thousands)
        head, tail = tok.split(",", 1)
        tok = head + tail if len(tail) == 3 else head + "." + tail
    try:
        return float(tok)
    except ValueError:  # pragma: no cover - the regex only admits numbers
        return None


def parse_count(text: str) -> int | None:
    """A non-negative integer count, or ``None``."""
    s = text.strip().lower()
    if not s:
        return None
    v = _first_number(s)
    if v is not None:
        if v < 0 or v != int(v):
            return None
        return int(v)
    w = _words_number(s)
    if w is not None:
        return w
    words = set(re.findall(r"[a-z]+", s))
    if words & _ZERO_WORDS:
        return 0
    return None


def parse_number(text: str) -> float | None:
    s = text.strip().lower()
    v = _first_number(s)
    if v is not None:
        return v
    w = _words_number(s)
    return float(w) if w is not None else None


# --------------------------------------------------------------------------------------------
# booleans and closed sets

_YES = {"yes", "y", "yeah", "yep", "yup", "true", "correct", "affirmative", "right", "sure", "indeed", "ja", "oui",
        "si"}
_NO = {"no", "n", "nope", "nah", "false", "incorrect", "negative", "wrong"}
_YES_SEARCH = {"yes", "yeah", "yep", "true"}
_NO_SEARCH = {"no", "nope", "false"}


def parse_yes_no(text: str) -> bool | None:
    words = re.findall(r"[a-z]+", text.lower())
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    ys = any(w in _YES_SEARCH for w in words)
    ns = any(w in _NO_SEARCH for w in words)
    if ys != ns:
        return ys
    return None


def _value_forms(v: str) -> list[str]:
    base = v.strip().lower()
    forms = {base, base.replace("_", " "), base.replace("-", " "), base.replace(" ", "_"), base.replace(" ", "-")}
    return sorted(forms, key=len, reverse=True)


def parse_choice(text: str, values: Sequence[str]) -> str | None:
    """One value of a closed set, or ``None`` (nothing, a value outside the set, or two values)."""
    s = _norm(text)
    if not s:
        return None
    for v in values:
        if s in _value_forms(v):
            return v
    # find the values named in the text, longest first, without overlaps
    spans: list[tuple[int, int, str]] = []
    for v in sorted(values, key=len, reverse=True):
        for form in _value_forms(v):
            for m in re.finditer(r"(?<![\w])" + re.escape(form) + r"(?![\w])", s):
                if not any(a < m.end() and m.start() < b for a, b, _ in spans):
                    spans.append((m.start(), m.end(), v))
    named = {v for _, _, v in spans}
    if len(named) == 1:
        return named.pop()
    return None


def parse_attribute(spec: AttributeSpec, text: str) -> Any:
    if spec.kind == "enum":
        return parse_choice(text, spec.values)
    if spec.kind == "bool":
        return parse_yes_no(text)
    return parse_number(text)


def closed_set_confidence(alternatives: Mapping[str, float], candidates: Sequence[str],
                          chosen: str) -> float | None:
    """P(chosen | the answer is one of ``candidates``), from the first answer token's distribution.

    ``alternatives`` maps token strings (as decoded, e.g. ``" Yes"``) to their probabilities (the
    top-k at the position where the answer starts). A token counts for a candidate when it is a
    non-empty prefix of one of the candidate's forms (``Y``, ``yes``, ``Yes`` all count for
    ``yes``; ``true`` too); a token shared by several candidates' prefixes is split evenly.
    ``None`` when no alternative names any candidate.
    """
    if not candidates or chosen not in candidates:
        return None
    forms: dict[str, list[str]] = {c: _value_forms(c) for c in candidates}
    if tuple(candidates) == YES_NO:
        forms["yes"] += ["true"]
        forms["no"] += ["false"]
    mass = {c: 0.0 for c in candidates}
    for tok, p in alternatives.items():
        t = tok.strip().lower().strip("\"'`*")
        if not t or p <= 0:
            continue
        owners = [c for c in candidates if any(f.startswith(t) for f in forms[c])]
        for c in owners:
            mass[c] += p / len(owners)
    total = sum(mass.values())
    if total <= 0:
        return None
    return mass[chosen] / total


# --------------------------------------------------------------------------------------------
# boxes

_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_QWEN2_BOX_RE = re.compile(r"\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)\s*,?\s*\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)")
_LIST4_RE = re.compile(r"\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\]")
_BOX_KEYS = ("bbox_2d", "bbox", "box", "box_2d", "bounding_box", "coordinates")
_NONE_RE = re.compile(r"^\s*(none|no\b|nothing|there (is|are) no|\[\s*\]|null|n/a)", re.I)


def _loads_lenient(s: str) -> Any:
    try:
        return json.loads(s)
    except (ValueError, TypeError):
        pass
    t = re.sub(r",\s*([\]}])", r"\1", s)  # trailing commas
    t = re.sub(r"(?<![\w])'([^']*)'", r'"\1"', t)  # single quotes
    t = re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", re.sub(r"\bNone\b", "null", t)))
    try:
        return json.loads(t)
    except (ValueError, TypeError):
        return None


def _json_candidates(text: str) -> Iterable[Any]:
    for m in _FENCE_RE.finditer(text):
        yield _loads_lenient(m.group(1).strip())
    start = text.find("[")
    if start >= 0:
        end = text.rfind("]")
        if end > start:
            yield _loads_lenient(text[start:end + 1])
    start = text.find("{")
    if start >= 0:
        end = text.rfind("}")
        if end > start:
            obj = _loads_lenient(text[start:end + 1])
            if isinstance(obj, dict):
                yield [obj]
            else:
                yield _loads_lenient("[" + text[start:end + 1] + "]")


def _box_of(item: Any) -> list[float] | None:
    if isinstance(item, dict):
        for k in _BOX_KEYS:
            if k in item:
                return _box_of(item[k])
        if all(k in item for k in ("x1", "y1", "x2", "y2")):
            return _box_of([item["x1"], item["y1"], item["x2"], item["y2"]])
        return None
    if isinstance(item, (list, tuple)):
        flat = list(item)
        if len(flat) == 2 and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in flat):
            flat = [*flat[0], *flat[1]]
        if len(flat) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            return [float(v) for v in flat]
    return None


def _attributes_of(item: Any, specs: Sequence[AttributeSpec]) -> tuple[tuple[str, Any], ...]:
    if not isinstance(item, dict) or not specs:
        return ()
    pool = dict(item)
    if isinstance(item.get("attributes"), dict):
        pool.update(item["attributes"])
    lower = {str(k).lower(): v for k, v in pool.items()}
    out = []
    for spec in specs:
        raw = lower.get(spec.name.lower())
        if raw is None:
            continue
        if spec.kind == "bool" and isinstance(raw, bool):
            val: Any = raw
        elif spec.kind == "number" and isinstance(raw, (int, float)) and not isinstance(raw, bool):
            val = float(raw)
        else:
            val = parse_attribute(spec, str(raw))
        if val is not None:
            out.append((spec.name, val))
    return tuple(sorted(out))


def parse_boxes(text: str, box_format: BoxFormat, attributes: Sequence[AttributeSpec] = (),
                score: float = 1.0) -> list[Instance] | None:
    """Instances from a grounding reply, or ``None`` when the reply holds no readable boxes."""
    if _NONE_RE.match(text.strip()) and "[" not in text.strip()[1:]:
        return []
    for data in _json_candidates(text):
        if data is None:
            continue
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            continue
        if not data:
            return []
        items = data if not _box_of(data) else [data]  # a single bare [x1,y1,x2,y2]
        out = []
        readable = False
        for item in items:
            b = _box_of(item)
            if b is None:
                continue
            readable = True
            frac = box_format.to_fraction(b)
            if frac is None:
                continue
            out.append(Instance(box=frac, score=score, attributes=_attributes_of(item, attributes)))
        if readable:
            return out
    boxes = [m.groups() for m in _QWEN2_BOX_RE.finditer(text)]
    if not boxes:
        boxes = [m.groups() for m in _LIST4_RE.finditer(text)]
    if boxes:
        fmt = box_format
        if "<|box_start|>" in text and box_format.kind == "fraction":
            fmt = BoxFormat("norm1000", box_format.width, box_format.height)
        out = []
        for g in boxes:
            try:
                frac = fmt.to_fraction([float(v) for v in g])
            except ValueError:
                continue
            if frac is not None:
                out.append(Instance(box=frac, score=score))
        return out
    return None


# --------------------------------------------------------------------------------------------
# one reply → one Answer


def looks_garbled(text: str) -> bool:
    """Mostly control characters or undecodable bytes: a broken model, not an answer."""
    bad = sum(1 for c in text if c == "\ufffd" or (unicodedata.category(c) == "Cc" and c not in "\n\r\t"))
    return bad > max(1, len(text) // 10)


def _clip_raw(text: str, n: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"


def parse_answer(q: Subquery, text: str | None, *, think: bool = False,
                 box_format: BoxFormat | None = None,
                 first_token_alternatives: Mapping[str, float] | None = None,
                 sequence_prob: float | None = None) -> Answer:
    """Turn a model reply into an :class:`Answer`; never raises.

    ``first_token_alternatives``: top-k token strings → probability at the answer's first token
    (gives the closed-set confidence); ``sequence_prob``: probability of the generated answer
    tokens (the confidence of open answers).
    """
    try:
        return _parse_answer(q, text, think, box_format or BoxFormat(), first_token_alternatives, sequence_prob)
    except Exception as e:  # noqa: BLE001 - a parser bug must not stop a check
        return Answer.failed(f"unparseable answer ({type(e).__name__}: {e})", raw=text)


def _parse_answer(q, text, think, box_format, alts, seq_prob) -> Answer:
    if text is None or not str(text).strip():
        return Answer.failed("empty answer from the model", raw=text)
    ans = extract_answer(text, think)
    if not ans:
        return Answer.failed("unparseable answer: no final answer after the reasoning", raw=text)
    if looks_garbled(ans):
        return Answer.failed(f"unparseable answer: garbled text `{_clip_raw(ans, 40)}`", raw=text)
    bad = f"unparseable answer: `{_clip_raw(ans)}`"
    if isinstance(q, Count):
        n = parse_count(ans)
        if n is None:
            return Answer.failed(bad + " is not a count", raw=text)
        return Answer(value=n, confidence=seq_prob, raw=text)
    if isinstance(q, (Exists, Relation)) or (isinstance(q, Attribute) and q.attribute.kind == "bool"):
        b = parse_yes_no(ans)
        if b is None:
            return Answer.failed(bad + " is not yes or no", raw=text)
        conf = closed_set_confidence(alts, YES_NO, "yes" if b else "no") if alts else None
        return Answer(value=b, confidence=conf if conf is not None else seq_prob, raw=text)
    if isinstance(q, Attribute):
        spec = q.attribute
        if spec.kind == "enum":
            v = parse_choice(ans, spec.values)
            if v is None:
                return Answer.failed(bad + f" is not one of: {', '.join(spec.values)}", raw=text)
            conf = closed_set_confidence(alts, spec.values, v) if alts else None
            return Answer(value=v, confidence=conf if conf is not None else seq_prob, raw=text)
        x = parse_number(ans)
        if x is None:
            return Answer.failed(bad + " is not a number", raw=text)
        return Answer(value=x, confidence=seq_prob, raw=text)
    if isinstance(q, Detect):
        inst = parse_boxes(ans, box_format, q.attributes, score=seq_prob if seq_prob is not None else 1.0)
        if inst is None:
            return Answer.failed(bad + " holds no boxes", raw=text)
        return Answer(value=inst, confidence=seq_prob, raw=text)
    if isinstance(q, Measure):
        x = parse_number(ans)
        if x is None:
            return Answer.failed(bad + " is not a number", raw=text)
        return Answer(value=x, confidence=seq_prob, raw=text)
    return Answer.failed(f"unsupported subquery kind `{getattr(q, 'kind', '?')}`", raw=text)
