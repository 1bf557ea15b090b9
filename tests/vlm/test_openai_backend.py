"""The `openai` backend: request shape, parsing, confidence, retries, timeouts, a server that is
down or silent, the concurrency limit — against httpx mock transports and small local sockets — and
end to end against a real `transformers serve` process serving the tiny LLaVA."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time

import httpx
import numpy as np
import pytest

from logicdsl.engine.backend import Backend, BackendError
from logicdsl.engine.image import ImageRef
from logicdsl.engine.openai_backend import OpenAIBackend
from logicdsl.engine.subquery import Attribute, AttributeSpec, Count, Detect, Exists, Region

COLOR = AttributeSpec("color", "enum", ("red", "blue"))


@pytest.fixture
def image():
    return ImageRef.of((np.random.RandomState(1).rand(50, 70, 3) * 255).astype(np.uint8))


def completion(content, logprobs=None, reasoning=None):
    msg = {"role": "assistant", "content": content}
    if reasoning is not None:
        msg["reasoning_content"] = reasoning
    choice = {"index": 0, "message": msg, "finish_reason": "stop"}
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs}
    return {"id": "x", "object": "chat.completion", "choices": [choice]}


def lp(token, p, top=None):
    return {"token": token, "logprob": float(np.log(p)),
            "top_logprobs": [{"token": t, "logprob": float(np.log(q))} for t, q in (top or {token: p}).items()]}


class Recorder:
    """A mock server: replies by prompt substring, records requests, tracks concurrency."""

    def __init__(self, replies: dict, delay: float = 0.0):
        self.replies = replies
        self.delay = delay
        self.requests: list[dict] = []
        self.headers: list[httpx.Headers] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self.lock:
            self.requests.append(body)
            self.headers.append(request.headers)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            text = body["messages"][0]["content"][1]["text"]
            for key, reply in self.replies.items():
                if key in text:
                    return reply if isinstance(reply, httpx.Response) else httpx.Response(200, json=reply)
            return httpx.Response(200, json=completion("?"))
        finally:
            with self.lock:
                self.in_flight -= 1


def backend(handler, **kw) -> OpenAIBackend:
    kw.setdefault("backoff", 0.01)
    return OpenAIBackend("http://server.test", kw.pop("model", "some-vlm"), transport=httpx.MockTransport(handler), **kw)


def sent_image(body) -> tuple[int, int]:
    from PIL import Image

    url = body["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size


def test_protocol_and_request_shape(image, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    rec = Recorder({"How many": completion("3")})
    b = backend(rec, api_key_env="MY_KEY")
    assert isinstance(b, Backend) and b.name == "openai"
    assert b.capabilities == frozenset({"count", "exists", "attribute", "relation", "detect"})
    assert b.base_url == "http://server.test/v1"
    (a,) = b.answer(image, [Count("pin", "pin")])
    assert a.value == 3
    (body,) = rec.requests
    assert body["model"] == "some-vlm" and body["temperature"] == 0.0 and body["max_tokens"] <= 16
    assert body["messages"][0]["content"][1]["text"].endswith("Answer with a single number.")
    assert sent_image(body) == (70, 50)
    assert rec.headers[0]["authorization"] == "Bearer sk-test"


def test_no_key_sends_no_authorization(image, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rec = Recorder({})
    backend(rec).answer(image, [Count("pin", "pin")])
    assert "authorization" not in rec.headers[0]


def test_every_kind_and_confidence_from_logprobs(image):
    rec = Recorder({
        "How many": completion("4", [lp("4", 0.8)]),
        "Is there": completion("Yes", [lp("Yes", 0.6, {"Yes": 0.6, "No": 0.2, "Maybe": 0.2})]),
        "What is the color": completion("blue", [lp("blue", 0.5, {"blue": 0.5, "red": 0.5})]),
        "Locate every": completion('[{"bbox_2d": [0.1, 0.2, 0.3, 0.4], "color": "red"}]'),
    })
    qs = [Count("pin", "pin"), Exists("cap", "a cap"), Attribute("cap", "the cap", COLOR),
          Detect("pin", "a pin", (COLOR,))]
    a_count, a_exists, a_color, a_det = backend(rec).answer(image, qs)
    assert a_count.value == 4 and a_count.confidence == pytest.approx(0.8)
    assert a_exists.value is True and a_exists.confidence == pytest.approx(0.75)
    assert a_color.value == "blue" and a_color.confidence == pytest.approx(0.5)
    assert a_det.value[0].box == pytest.approx((0.1, 0.2, 0.3, 0.4)) and a_det.value[0].attribute("color") == "red"


def test_think_and_reasoning_content(image):
    rec = Recorder({
        "How many": completion("<think>one, two</think><answer>2</answer>",
                               [lp("<think>", 0.9), lp("one, two", 0.9), lp("</think>", 0.9), lp("<answer>", 0.9),
                                lp("2", 0.7, {"2": 0.7, "3": 0.3}), lp("</answer>", 1.0)]),
        "Is there": completion("<answer>no</answer>", reasoning="nothing red in sight"),
    })
    b = backend(rec, think=True)
    a, e = b.answer(image, [Count("pin", "pin"), Exists("cap", "a red cap")])
    assert a.value == 2 and a.confidence == pytest.approx(0.7)
    assert e.value is False and e.raw.startswith("<think>nothing red")
    assert "<answer>" in rec.requests[0]["messages"][0]["content"][1]["text"]


def test_unparseable_is_undecided_with_raw(image):
    rec = Recorder({"How many": completion("lots"), "Is there": completion(None)})
    a, e = backend(rec).answer(image, [Count("pin", "pin"), Exists("cap", "a cap")])
    assert a.value is None and a.error.startswith("unparseable answer") and a.raw == "lots"
    assert e.value is None and "no message content" in e.error


def test_retries_with_backoff_then_succeeds(image):
    calls = []

    def handler(request):
        calls.append(time.monotonic())
        if len(calls) < 3:
            return httpx.Response(503, json={"detail": "busy"})
        return httpx.Response(200, json=completion("yes"))

    b = backend(handler, retries=2, backoff=0.05)
    (a,) = b.answer(image, [Exists("cap", "a cap")])
    assert a.value is True and b.stats["retries"] == 2
    assert calls[1] - calls[0] >= 0.04 and calls[2] - calls[1] >= 0.09  # doubling delays


def test_client_errors_are_not_retried(image):
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(400, json={"error": {"message": "image too large"}})

    (a,) = backend(handler, retries=3).answer(image, [Exists("cap", "a cap")])
    assert a.value is None and "HTTP 400: image too large" in a.error and len(calls) == 1


def test_a_server_refusing_logprobs_is_asked_without_them(image):
    bodies = []

    def handler(request):
        body = json.loads(request.content)
        bodies.append(body)
        if "logprobs" in body:
            return httpx.Response(422, json={"detail": "Unexpected fields in the request: {'logprobs'}"})
        return httpx.Response(200, json=completion("no"))

    b = backend(handler)
    a1, a2 = b.answer(image, [Exists("cap", "a cap"), Exists("pin", "a pin")])
    assert a1.value is False and a2.value is False and b.logprobs is False
    assert "logprobs" not in bodies[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_gives_undecided_answers_fast(image):
    port = _free_port()  # nothing listens there
    b = OpenAIBackend(f"http://127.0.0.1:{port}", "m", retries=2, backoff=0.01, timeout=2)
    t0 = time.monotonic()
    answers = b.answer(image, [Count("pin", "pin")] * 12)
    assert time.monotonic() - t0 < 5
    assert all(a.value is None for a in answers)
    assert "is unreachable" in answers[0].error and "check that it is running" in answers[0].error
    assert b.stats["requests"] < 12 * 3  # the batch stops asking once the server is known down
    with pytest.raises(BackendError, match="unreachable"):
        b.probe()


def test_silent_server_times_out_never_hangs(image):
    """A server that accepts connections and never answers: bounded by timeout x attempts."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    conns = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        b = OpenAIBackend(f"http://127.0.0.1:{srv.getsockname()[1]}", "m", timeout=0.3, retries=1, backoff=0.01,
                          concurrency=2)
        t0 = time.monotonic()
        answers = b.answer(image, [Exists("cap", "a cap")] * 8)
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        t.join()
        for c in conns:
            c.close()
        srv.close()
    assert elapsed < 3.0
    assert all(a.value is None for a in answers)
    assert any("timed out" in a.error for a in answers)
    assert any(a.error.startswith("not asked") for a in answers)


def test_concurrency_limit(image):
    rec = Recorder({}, delay=0.05)
    b = backend(rec, concurrency=3)
    b.answer(image, [Count("pin", f"pin {i}") for i in range(12)])
    assert len(rec.requests) == 12
    assert 2 <= rec.max_in_flight <= 3


def test_qwen25_pixels_are_those_of_the_image_sent(image):
    rec = Recorder({"Locate": completion('[{"bbox_2d": [14, 14, 42, 28]}]')})
    b = backend(rec, model="Qwen/Qwen2.5-VL-7B-Instruct")
    (a,) = b.answer(image, [Detect("pin", "a pin")])
    w, h = sent_image(rec.requests[0])
    assert w % 28 == 0 and h % 28 == 0 and (w, h) == (56, 56)
    assert "56x56 image" in rec.requests[0]["messages"][0]["content"][1]["text"]
    assert a.value[0].box == pytest.approx((0.25, 0.25, 0.75, 0.5))


def test_large_images_are_downscaled():
    rec = Recorder({})
    big = ImageRef.of(np.zeros((300, 900, 3), np.uint8))
    backend(rec, max_image_side=300).answer(big, [Count("pin", "pin")])
    assert sent_image(rec.requests[0]) == (300, 100)


def test_crop_regions_send_the_crop(image):
    rec = Recorder({"How many": completion("1")})
    b = backend(rec, crop_regions=True)
    (a,) = b.answer(image, [Count("pin", "pin", region=Region("box", "left", box=(0, 0, 0.5, 1)))])
    assert a.value == 1
    assert sent_image(rec.requests[0]) == (35, 50)
    assert "left" not in rec.requests[0]["messages"][0]["content"][1]["text"]


def test_bad_base_url():
    with pytest.raises(BackendError, match="must start with http"):
        OpenAIBackend("localhost:8000", "m")
