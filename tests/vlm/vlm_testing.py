"""Test helpers for the VLM backends: scripted generation on a real model, and counting
vision-encoder forwards. Used by tests/vlm and benchmarks/test_vlm_bench.py."""

from __future__ import annotations

import contextlib

import numpy as np

#: budgets small enough that a random model's babble stays cheap on CPU
TEST_BUDGETS = {"detect": 64, "attribute": 8, "count": 6, "exists": 4, "relation": 4}


def short_budgets(backend, n: int = 6) -> None:
    """Cap every reply at ``n`` tokens: random-weight babble is the slow part of these tests."""
    backend.budgets = {k: n for k in backend.budgets}


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


