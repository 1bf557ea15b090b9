"""The ``openai`` backend: any OpenAI-compatible chat-completions server with image input
(vLLM, SGLang, ``transformers serve``, Ollama, hosted APIs).

Construction (the CLI maps ``--backend openai --base-url URL --model NAME`` onto these)::

    OpenAIBackend(
        base_url,                 # "http://localhost:8000" or ".../v1"
        model,                    # the served model name (for `transformers serve FOLDER`: FOLDER)
        api_key_env="OPENAI_API_KEY",  # the key is read from this variable; unset: no key sent
        concurrency=4,            # requests in flight at once
        timeout=30.0,             # seconds per request (connect: at most 5)
        retries=2,                # retries on connection errors, timeouts, 429 and 5xx, with backoff
        think=False,              # chain of thought: <think>…</think><answer>…</answer>
        crop_regions=False,       # ask region subqueries on the region's crop
        box_format="auto",        # auto | pixels | norm1000 | fraction (auto: by model name)
        max_new_tokens=None,      # an int or {kind: tokens}; default prompts.MAX_NEW_TOKENS
        max_image_side=1280,      # larger images are downscaled before sending
        backoff=0.5,              # first retry delay in seconds; doubles per retry
        logprobs=True,            # ask for token log-probabilities (confidence); dropped if refused
    )

Pure httpx, no torch. Each subquery is one request (the server batches concurrent requests;
vLLM and SGLang also cache the shared image prefix). A server that is down or too slow never hangs
a check: every request is bounded by ``timeout`` x (``retries`` + 1) plus backoff; after the first
request of a batch that fails for good (unreachable, timed out), the rest of the batch is failed at
once instead of waiting in turn. Such failures are ``Answer.failed`` (undecided) with a message
that names the server and what to check, logged once; :meth:`OpenAIBackend.probe` checks the server
up front and raises :class:`BackendError` (for a CLI that wants to stop early).

Boxes: with ``pixels`` (Qwen2.5-VL) the image is sent with sides rounded to multiples of 28 so the
server's resize leaves it as is, and pixel coordinates are those of the image sent.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import httpx

from .backend import BackendError
from .crops import RegionPlan, Task, crop
from .image import ImageRef
from .prompts import MAX_NEW_TOKENS, BoxFormat, answer_offset, box_format_for_model, build_prompt, parse_answer
from .subquery import Answer, Subquery

log = logging.getLogger(__name__)

OPENAI_CAPABILITIES = frozenset({"count", "exists", "attribute", "relation", "detect"})
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_QWEN_FACTOR = 28  # Qwen-VL processors resize to multiples of patch (14) x merge (2)


class _Fatal(Exception):
    """A request failed for good in a way that will fail the others too (server down or slow)."""


@dataclass
class _Reply:
    text: str | None
    alternatives: dict[str, float] | None = None
    sequence_prob: float | None = None
    mean_prob: float | None = None
    error: str | None = None


class OpenAIBackend:
    """See the module docstring."""

    name = "openai"
    capabilities = OPENAI_CAPABILITIES

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY", concurrency: int = 4,
                 timeout: float = 30.0, retries: int = 2, think: bool = False, crop_regions: bool = False,
                 box_format: str = "auto", max_new_tokens: int | Mapping[str, int] | None = None,
                 max_image_side: int = 1280, backoff: float = 0.5, logprobs: bool = True, crop_margin: float = 0.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise BackendError(f"base URL `{base_url}` must start with http:// or https:// "
                               "(e.g. http://localhost:8000/v1)")
        base = base_url.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        self.base_url = base
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = max(1, int(concurrency))
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.think = think
        self.crop_regions = crop_regions
        self.crop_margin = crop_margin
        self.max_image_side = int(max_image_side)
        self.logprobs = logprobs
        if isinstance(max_new_tokens, int):
            self.budgets = {k: max_new_tokens for k in MAX_NEW_TOKENS}
        else:
            self.budgets = {**MAX_NEW_TOKENS, **(max_new_tokens or {})}
        self.box_kind = box_format_for_model(model, box_format)
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(api_key_env) if api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.timeout, connect=min(5.0, self.timeout)),
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            transport=transport,
        )
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        #: counters: requests sent (attempts), retries, failures, images, subqueries
        self.stats: dict[str, Any] = {"requests": 0, "retries": 0, "failed": 0, "images": 0, "subqueries": 0,
                                      "max_in_flight": 0}
        self._in_flight = 0

    # ---------------------------------------------------------------------------------- public

    def probe(self) -> None:
        """Check that the server answers and serves ``model``; raise :class:`BackendError` if not."""
        url = f"{self.base_url}/models"
        try:
            r = self._client.get(url, timeout=min(self.timeout, 10.0))
        except httpx.TimeoutException as e:
            raise BackendError(self._down_message(f"not answering ({type(e).__name__})", 1)) from None
        except httpx.HTTPError as e:
            raise BackendError(self._down_message(f"unreachable ({_short(e)})", 1)) from None
        if r.status_code in (401, 403):
            raise BackendError(f"the server at {self.base_url} refused the API key (HTTP {r.status_code}); "
                               f"set {self.api_key_env}")
        if r.status_code >= 400:
            raise BackendError(f"the server at {self.base_url} answered HTTP {r.status_code} to GET /models")
        try:
            ids = [m.get("id") for m in r.json().get("data", [])]
        except (ValueError, AttributeError):
            return
        if ids and self.model not in ids:
            raise BackendError(f"the server at {self.base_url} does not serve `{self.model}`; it serves: "
                               + ", ".join(f"`{i}`" for i in ids[:8]))

    def close(self) -> None:
        self._client.close()

    def answer(self, image: ImageRef, subqueries: Sequence[Subquery]) -> list[Answer]:
        self.stats["images"] += 1
        self.stats["subqueries"] += len(subqueries)
        pixels = image.load()  # an unreadable image is an ImageError: the executor reports it per image
        plan = RegionPlan(subqueries, self.capabilities, self.crop_regions, self.name)
        first = self._run_wave(pixels, plan.first)
        second_tasks = plan.second(first)
        second = self._run_wave(pixels, second_tasks) if second_tasks else []
        return plan.finish(second)

    # ---------------------------------------------------------------------------------- internals

    def _run_wave(self, pixels, tasks: list[Task]) -> list[Answer]:
        if not tasks:
            return []
        views: dict[Any, tuple[str, BoxFormat]] = {}
        for t in tasks:
            if t.view not in views:
                arr = pixels if t.view == "full" else crop(pixels, t.view[1], self.crop_margin)
                views[t.view] = self._encode(arr)
        down = threading.Event()
        reasons: list[str] = []

        def one(task: Task) -> Answer:
            url, bf = views[task.view]
            prompt = build_prompt(task.query, box_format=bf, think=self.think, on_crop=task.on_crop,
                                  max_new_tokens=self.budgets)
            if down.is_set():
                return Answer.failed(f"not asked: {reasons[0] if reasons else 'the server is unavailable'}")
            try:
                reply = self._ask(url, prompt.text, prompt.max_new_tokens)
            except _Fatal as e:
                reasons.append(str(e))
                down.set()
                return Answer.failed(str(e))
            if reply.error:
                return Answer.failed(reply.error, raw=reply.text)
            q = task.query
            return parse_answer(q, reply.text, think=self.think, box_format=bf,
                                first_token_alternatives=reply.alternatives,
                                sequence_prob=reply.mean_prob if q.kind == "detect" else reply.sequence_prob)

        if self.concurrency == 1 or len(tasks) == 1:
            out = [one(t) for t in tasks]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(tasks))) as ex:
                out = list(ex.map(one, tasks))
        self.stats["failed"] += sum(1 for a in out if a.value is None)
        return out

    def _encode(self, arr) -> tuple[str, BoxFormat]:
        """A data URL of the view (PNG, downscaled / rounded as needed) and the box format for it."""
        from PIL import Image

        im = Image.fromarray(arr)
        w, h = im.size
        scale = min(1.0, self.max_image_side / max(w, h))
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        if self.box_kind == "pixels":  # make the server's resize a no-op, so pixels are ours
            nw = max(_QWEN_FACTOR, round(nw / _QWEN_FACTOR) * _QWEN_FACTOR)
            nh = max(_QWEN_FACTOR, round(nh / _QWEN_FACTOR) * _QWEN_FACTOR)
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        return url, BoxFormat(self.box_kind, nw, nh)

    def _body(self, image_url: str, text: str, max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": image_url}},
                {"type": "text", "text": text},
            ]}],
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": False,
        }
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = 5
        return body

    def _ask(self, image_url: str, text: str, max_tokens: int) -> _Reply:
        url = f"{self.base_url}/chat/completions"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                with self._lock:
                    self.stats["retries"] += 1
                time.sleep(self._delay(attempt, last_response))
            last_response = None
            with self._lock:
                self.stats["requests"] += 1
                self._in_flight += 1
                self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self._in_flight)
            try:
                r = self._client.post(url, json=self._body(image_url, text, max_tokens))
            except httpx.TimeoutException as e:
                last = f"timed out after {self.timeout:g} s ({type(e).__name__})"
                continue
            except httpx.TransportError as e:
                last = f"unreachable ({_short(e)})"
                continue
            finally:
                with self._lock:
                    self._in_flight -= 1
            if r.status_code in _RETRY_STATUS:
                last = f"HTTP {r.status_code}: {_detail(r)}"
                last_response = r
                continue
            if r.status_code >= 400:
                detail = _detail(r)
                if self.logprobs and r.status_code in (400, 422) and "logprob" in detail.lower():
                    self.logprobs = False  # a server that refuses logprobs: ask without them
                    self._warn_once("logprobs", f"openai: {self.base_url} refuses logprobs; "
                                                "confidence will not be reported")
                    return self._ask(image_url, text, max_tokens)
                if r.status_code in (401, 403):
                    return _Reply(None, error=f"the server at {self.base_url} refused the request "
                                              f"(HTTP {r.status_code}); set {self.api_key_env}")
                return _Reply(None, error=f"the server at {self.base_url} refused the request "
                                          f"(HTTP {r.status_code}: {detail})")
            try:
                return _read_reply(r.json())
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
                return _Reply(None, error=f"malformed response from {self.base_url} ({_short(e)})")
        msg = self._down_message(last)
        self._warn_once("down", msg)
        raise _Fatal(msg)

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            ra = response.headers.get("retry-after")
            if ra:
                try:
                    return min(10.0, max(0.0, float(ra)))
                except ValueError:
                    pass
        return self.backoff * (2 ** (attempt - 1)) * (1 + 0.1 * random.random())

    def _down_message(self, what: str, attempts: int | None = None) -> str:
        n = self.retries + 1 if attempts is None else attempts
        return (f"the openai-compatible server at {self.base_url} is {what} after {n} attempt(s); check that it is "
                f"running and serves `{self.model}` (e.g. `vllm serve MODEL` or `transformers serve FOLDER`), "
                "or raise the timeout")

    def _warn_once(self, key: str, msg: str) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(msg)


def _short(e: Any) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]


def _detail(r: httpx.Response) -> str:
    try:
        j = r.json()
        d = j.get("detail") or j.get("error") or j
        if isinstance(d, dict):
            d = d.get("message") or d
        return _short(d)
    except ValueError:
        return _short(r.text or r.reason_phrase)


def _read_reply(j: dict[str, Any]) -> _Reply:
    """Text and token probabilities of a chat-completion response."""
    choice = j["choices"][0]
    msg = choice.get("message") or {}
    text = msg.get("content")
    if isinstance(text, list):  # content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    if reasoning and text is not None and "<think>" not in text:
        text = f"<think>{reasoning}</think>{text}"
    if text is None:
        return _Reply(None, error="the server returned no message content")
    lp = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
    if not lp:
        return _Reply(text)
    tokens = [t.get("token", "") for t in lp]
    start = answer_offset(text)
    pos, first = 0, None
    for i, t in enumerate(tokens):
        pos += len(t)
        if pos > start and (t.strip() or start > 0):
            first = i
            break
    if first is None:
        return _Reply(text)
    alts: dict[str, float] = {}
    for a in lp[first].get("top_logprobs") or []:
        alts[a.get("token", "")] = alts.get(a.get("token", ""), 0.0) + math.exp(float(a.get("logprob", -math.inf)))
    if not alts:
        alts = {tokens[first]: math.exp(float(lp[first].get("logprob", 0.0)))}
    seq = [float(t.get("logprob", 0.0)) for t in lp[first:]]
    return _Reply(text, alternatives=alts, sequence_prob=math.exp(sum(seq)),
                  mean_prob=math.exp(sum(seq) / len(seq)) if seq else None)
