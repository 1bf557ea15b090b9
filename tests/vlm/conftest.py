"""Fixtures for the VLM backends: tiny models built offline once per session, scripted generation,
and a real `transformers serve` process on localhost.

Nothing is downloaded: the models are built from configs with random weights and a byte-level
tokenizer made with `tokenizers` (see vlm_tiny_models.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}
for _k, _v in OFFLINE_ENV.items():
    os.environ.setdefault(_k, _v)


def _need_torch():
    pytest.importorskip("torch", reason="the vlm extra (torch) is not installed")
    pytest.importorskip("transformers", reason="the vlm extra (transformers) is not installed")


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory) -> Path:
    _need_torch()
    from vlm_tiny_models import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("vlm") / "tiny-llava")


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory) -> Path:
    _need_torch()
    from vlm_tiny_models import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("vlm") / "tiny-qwen2_5_vl")


#: budgets small enough that a random model's babble stays cheap on CPU
TEST_BUDGETS = {"detect": 64, "attribute": 8, "count": 6, "exists": 4, "relation": 4}


@pytest.fixture(scope="session")
def _llava_session(tiny_llava_dir):
    from logicdsl.engine.vlm import VLMBackend

    return VLMBackend(str(tiny_llava_dir), device="cpu", max_new_tokens=TEST_BUDGETS)


@pytest.fixture(scope="session")
def _qwen_session(tiny_qwen_dir):
    from logicdsl.engine.vlm import VLMBackend

    return VLMBackend(str(tiny_qwen_dir), device="cpu", max_new_tokens=TEST_BUDGETS)


def _fresh(backend):
    backend.logits_processors.clear()
    backend.think = False
    backend.crop_regions = False
    for k in backend.stats:
        backend.stats[k] = 0 if not isinstance(backend.stats[k], bool) else True
    backend.stats["seconds"] = 0.0
    return backend


@pytest.fixture
def llava(_llava_session):
    yield _fresh(_llava_session)
    _fresh(_llava_session)


@pytest.fixture
def qwen(_qwen_session):
    yield _fresh(_qwen_session)
    _fresh(_qwen_session)


@pytest.fixture(params=["llava", "qwen"])
def any_vlm(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def image():
    from logicdsl.engine.image import ImageRef

    rng = np.random.RandomState(0)
    return ImageRef.of((rng.rand(48, 64, 3) * 255).astype(np.uint8))


# ------------------------------------------------------------------------------------------------
# scripted generation: a real model whose generation is forced to given token sequences


class Scripted:
    """Forces each generated row to a scripted reply, chosen by a substring of the row's prompt.

    ``script`` maps a prompt substring to a reply text, or to ``(reply, {alternative: prob})``:
    then the first reply token gets probability ``1 - sum(probs)`` and each alternative's first
    token its probability, so the confidence the backend reads from the scores is known.
    Rows whose prompt matches nothing are forced to ``default``.
    """

    def __init__(self, backend, script: dict, default: str = "???"):
        self.backend = backend
        self.tok = backend.processor.tokenizer
        self.script = script
        self.default = default
        self.seen_prompts: list[str] = []
        self._targets = None
        self._prompt_len = 0
        eos = backend.model.generation_config.eos_token_id
        self.eos = eos[0] if isinstance(eos, list) else eos

    def reset(self):
        self._targets = None

    def _plan(self, input_ids):
        self._prompt_len = input_ids.shape[1]
        self._targets = []
        for row in input_ids.tolist():
            prompt = self.tok.decode(row, skip_special_tokens=True)
            self.seen_prompts.append(prompt)
            entry = next((v for k, v in self.script.items() if k in prompt), self.default)
            reply, alts = (entry if isinstance(entry, tuple) else (entry, {}))
            ids = self.tok.encode(reply, add_special_tokens=False) + [self.eos]
            alt_ids = {self.tok.encode(a, add_special_tokens=False)[0]: p for a, p in alts.items()}
            self._targets.append((ids, alt_ids))

    def __call__(self, input_ids, scores):
        import torch

        if self._targets is None:
            self._plan(input_ids)
        step = input_ids.shape[1] - self._prompt_len
        out = torch.full_like(scores, float("-inf"))
        for b, (ids, alts) in enumerate(self._targets):
            target = ids[step] if step < len(ids) else self.eos
            if step == 0 and alts:
                rest = 1.0 - sum(alts.values())
                out[b, target] = float(np.log(rest))
                for t, p in alts.items():
                    out[b, t] = float(np.log(p))
            else:
                out[b, target] = 0.0
        return out


@contextlib.contextmanager
def scripted(backend, script: dict, default: str = "???"):
    """Install a :class:`Scripted` processor on ``backend`` for the duration of the block."""
    s = Scripted(backend, script, default)
    model = backend.model
    orig = model.generate

    def generate(*args, **kwargs):
        s.reset()
        return orig(*args, **kwargs)

    model.generate = generate
    backend.logits_processors.append(s)
    try:
        yield s
    finally:
        backend.logits_processors.remove(s)
        del model.generate  # back to the class method


@pytest.fixture
def script():
    return scripted


def vision_tower(model):
    """The module that encodes images (hooked to count encoder forwards)."""
    base = getattr(model, "model", model)
    for name in ("visual", "vision_tower", "vision_model"):
        m = getattr(base, name, None)
        if m is not None:
            return m
    raise AssertionError("no vision tower found")


@contextlib.contextmanager
def count_vision_forwards(model):
    calls = []
    handle = vision_tower(model).register_forward_hook(lambda mod, args, out: calls.append(args))
    try:
        yield calls
    finally:
        handle.remove()


# ------------------------------------------------------------------------------------------------
# a real `transformers serve` process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served_llava(tiny_llava_dir):
    """`transformers serve FOLDER` on a free localhost port; yields (base_url, model name)."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        pytest.skip("transformers' serving extra is not installed (pip install 'transformers[serving]')")
    import httpx

    port = _free_port()
    exe = shutil.which("transformers")
    cmd = [exe] if exe else [sys.executable, "-m", "transformers.cli.transformers"]
    cmd += ["serve", str(tiny_llava_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
            "--dtype", "float32"]
    log = open(tiny_llava_dir.parent / "serve.log", "w")
    env = {**os.environ, **OFFLINE_ENV}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log.flush()
                tail = (tiny_llava_dir.parent / "serve.log").read_text()[-2000:]
                pytest.fail(f"transformers serve exited with {proc.returncode}:\n{tail}")
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("transformers serve did not become ready within 120 s")
            time.sleep(0.3)
        yield base, str(tiny_llava_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
