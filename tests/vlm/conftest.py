"""Fixtures for the VLM backends: tiny models built offline once per session, scripted generation,
and a real `transformers serve` process on localhost.

Nothing is downloaded: the models are built from configs with random weights and a byte-level
tokenizer made with `tokenizers` (see vlm_tiny_models.py).
"""

from __future__ import annotations

import os
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

from vlm_testing import TEST_BUDGETS, scripted  # noqa: E402

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}
for _k, _v in OFFLINE_ENV.items():
    os.environ.setdefault(_k, _v)
#: the served tiny model runs on one thread too (see the `one_thread` fixture)
SERVER_ENV = {**OFFLINE_ENV, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


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


@pytest.fixture(scope="session")
def _llava_session(tiny_llava_dir):
    from logicdsl.engine.vlm import VLMBackend

    return VLMBackend(str(tiny_llava_dir), device="cpu", max_new_tokens=TEST_BUDGETS)


@pytest.fixture(scope="session")
def _qwen_session(tiny_qwen_dir):
    from logicdsl.engine.vlm import VLMBackend

    return VLMBackend(str(tiny_qwen_dir), device="cpu", max_new_tokens=TEST_BUDGETS)


def _fresh(backend):
    backend.budgets = {**backend.budgets, **TEST_BUDGETS}
    backend.logits_processors.clear()
    backend.think = False
    backend.crop_regions = False
    for k in backend.stats:
        backend.stats[k] = 0 if not isinstance(backend.stats[k], bool) else True
    backend.stats["seconds"] = 0.0
    return backend


@pytest.fixture
def one_thread():
    """Torch on one thread for the duration of a test: these models are tiny, and two OpenMP
    threads spinning on a busy 2-core CI machine make them 5-15x slower, not faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def llava(_llava_session, one_thread):
    yield _fresh(_llava_session)
    _fresh(_llava_session)


@pytest.fixture
def qwen(_qwen_session, one_thread):
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


# scripted generation and vision-forward counting live in vlm_testing.py (the benchmark uses them too)


@pytest.fixture
def script():
    return scripted


# ------------------------------------------------------------------------------------------------
# a real `transformers serve` process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving_extra() -> bool:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


class _Server:
    """One `transformers serve FOLDER` process on a free localhost port."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # this interpreter's transformers (a `transformers` script on PATH may belong to another env)
        cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(folder),
               "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu", "--dtype", "float32"]
        self.log_path = folder.parent / "serve.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **SERVER_ENV}, start_new_session=True)

    def wait_ready(self, timeout: float = 180.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.log.flush()
                pytest.fail(f"transformers serve exited with {self.proc.returncode}:\n"
                            f"{self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not become ready within {timeout:g} s")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


_SERVERS: dict[str, _Server] = {}


@pytest.fixture(scope="session", autouse=True)
def _start_server_early(request):
    """When a selected test needs `transformers serve`, start it as the session begins, so its
    start-up (imports, model load) overlaps the other tests; always stopped at the end."""
    wanted = any("served_llava" in getattr(item, "fixturenames", ()) for item in request.session.items)
    if wanted and _serving_extra():
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            wanted = False
    if wanted and _serving_extra():
        _SERVERS["llava"] = _Server(request.getfixturevalue("tiny_llava_dir"))
    try:
        yield
    finally:
        for server in _SERVERS.values():
            server.stop()
        _SERVERS.clear()


@pytest.fixture(scope="session")
def served_llava(tiny_llava_dir):
    """`transformers serve FOLDER` on a free localhost port; yields (base_url, model name)."""
    if not _serving_extra():
        pytest.skip("transformers' serving extra is not installed (pip install 'transformers[serving]')")
    server = _SERVERS.get("llava")
    if server is None:
        server = _SERVERS["llava"] = _Server(tiny_llava_dir)
    server.wait_ready()
    return server.base, str(tiny_llava_dir)
