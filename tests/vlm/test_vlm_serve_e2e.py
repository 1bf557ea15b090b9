"""End to end through `openai` against a real `transformers serve` process on localhost serving the
tiny LLaVA (started early in the session by conftest, stopped at its end)."""

from __future__ import annotations

import numpy as np
import pytest

from vlm_testing import TEST_BUDGETS
from logicdsl.engine.backend import BackendError
from logicdsl.engine.image import ImageRef
from logicdsl.engine.openai_backend import OpenAIBackend
from logicdsl.engine.subquery import Attribute, AttributeSpec, Count, Detect, Exists

COLOR = AttributeSpec("color", "enum", ("red", "blue"))


@pytest.mark.slow
def test_end_to_end_against_transformers_serve(served_llava, llava):
    """The same tiny model, served and in-process: greedy replies must be identical."""
    image = ImageRef.of((np.random.RandomState(1).rand(50, 70, 3) * 255).astype(np.uint8))
    base, model = served_llava
    b = OpenAIBackend(base, model, max_new_tokens=TEST_BUDGETS, timeout=60, concurrency=2)
    b.probe()
    qs = [Count("pin", "pin"), Exists("cap", "a red cap"), Attribute("cap", "the cap", COLOR),
          Detect("pin", "a pin")]
    served = b.answer(image, qs)
    local = llava.answer(image, qs)
    assert b.stats["failed"] == sum(1 for a in served if a.value is None)
    for s, loc in zip(served, local):
        assert s.raw is not None and "server" not in (s.error or "")  # the server answered
        assert s.raw == loc.raw
    with pytest.raises(BackendError, match="does not serve"):
        OpenAIBackend(base, "not-this-model").probe()
