"""The transformers `vlm` backend on tiny offline models (LLaVA and Qwen2.5-VL, random weights).

Scripted tests force the real model's generation to given token sequences (see vlm_testing.Scripted),
so every answer path runs through tokenisation, generation, decoding, scores and parsing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vlm_testing import count_vision_forwards, short_budgets
from logicdsl.engine.backend import Backend, BackendError
from logicdsl.engine.image import ImageError, ImageRef
from logicdsl.engine.prompts import THINK_INSTRUCTION
from logicdsl.engine.subquery import (
    Attribute,
    AttributeSpec,
    Count,
    Detect,
    Exists,
    Measure,
    Region,
    Relation,
)

COLOR = AttributeSpec("color", "enum", ("red", "blue", "green"))
OPEN = AttributeSpec("open", "bool")
LENGTH = AttributeSpec("length", "number")


def many_subqueries(n_cells: int = 6):
    qs = [
        Count("pin", "pin"),
        Exists("cap", "a red cap"),
        Attribute("cap", "the cap", COLOR),
        Attribute("lid", "the lid", OPEN),
        Attribute("pin", "the pin", LENGTH),
        Relation("left_of", "icon", "the icon", "label", "the label"),
        Detect("pin", "a pin", (COLOR,)),
    ]
    for i in range(n_cells):
        qs.append(Count("pin", "pin", region=Region("box", f"cell[{i}]", box=(i / n_cells, 0, (i + 1) / n_cells, 1))))
    return qs


# ---------------------------------------------------------------------------------------- packaging

def test_importing_the_backends_does_not_import_torch():
    code = ("import sys, logicdsl.engine.vlm, logicdsl.engine.openai_backend, logicdsl.engine.prompts, "
            "logicdsl.engine.crops; bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_missing_weights_say_how_to_get_them(tmp_path):
    pytest.importorskip("torch")
    from logicdsl.engine.vlm import VLMBackend

    with pytest.raises(BackendError, match=r"hf download nobody-here/no-such-vlm"):
        VLMBackend("nobody-here/no-such-vlm")
    with pytest.raises(BackendError, match="does not exist"):
        VLMBackend(str(tmp_path / "missing" / "model"))
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(BackendError, match="safetensors only"):
        VLMBackend(str(tmp_path))
    (tmp_path / "pytorch_model.bin").unlink()
    with pytest.raises(BackendError, match="no \\*.safetensors"):
        VLMBackend(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(BackendError, match="cannot load"):
        VLMBackend(str(tmp_path))


def test_backend_protocol_and_capabilities(llava):
    assert isinstance(llava, Backend)
    assert llava.name == "vlm"
    assert llava.capabilities == frozenset({"count", "exists", "attribute", "relation", "detect"})
    assert str(llava.device) == "cpu" and str(llava.dtype) == "torch.float32"


def test_qwen_processor_is_built_without_torchvision(tiny_qwen_dir, qwen):
    from transformers.utils import is_torchvision_available

    proc = qwen.processor
    assert type(proc).__name__ == "Qwen2_5_VLProcessor"
    if not is_torchvision_available():
        assert proc.video_processor is None
        with pytest.raises(ImportError):  # what the backend works around
            from transformers import AutoProcessor

            AutoProcessor.from_pretrained(tiny_qwen_dir)
    assert "Pil" in type(proc.image_processor).__name__ or is_torchvision_available()
    assert qwen.box_kind == "pixels"  # Qwen2.5-VL grounds in pixels of the image it saw


# ---------------------------------------------------------------------------------------- efficiency

def test_vision_encoder_runs_once_per_image(any_vlm, image, script):
    qs = many_subqueries(12)  # 19 subqueries of every kind the backend answers
    with count_vision_forwards(any_vlm.model) as calls, script(any_vlm, {}, default="1"):
        answers = any_vlm.answer(image, qs)
    assert len(answers) == len(qs)
    assert len(calls) == 1, f"{len(calls)} vision-encoder forwards for one image"
    assert any_vlm.stats["generate_calls"] == 2  # short answers, then the grounding
    second = ImageRef.of(np.full((40, 30, 3), 200, np.uint8))
    with count_vision_forwards(any_vlm.model) as calls, script(any_vlm, {}, default="1"):
        any_vlm.answer(image, qs)
        any_vlm.answer(second, qs)
    assert len(calls) == 2
    assert any_vlm.stats["fast_path"] is True
    assert any_vlm.stats["vision_calls"] == 3


def test_precomputed_features_give_the_same_text_as_the_plain_path(any_vlm, image):
    """Reusing one encoding for all rows must not change what the model says."""
    from logicdsl.engine.crops import Task

    short_budgets(any_vlm, 8)
    tasks = [Task(q) for q in many_subqueries(3)]
    full = image.pil()
    fast, _ = any_vlm._generate_fast([full], tasks, ["full"])
    plain, _ = any_vlm._generate_plain([full], tasks, ["full"])
    assert [r.text for r in fast] == [r.text for r in plain]


def test_batched_answers_equal_one_by_one(any_vlm, image):
    short_budgets(any_vlm, 6)
    qs = many_subqueries(2)
    batched = any_vlm.answer(image, qs)
    single = [any_vlm.answer(image, [q])[0] for q in qs]
    assert [a.raw for a in batched] == [a.raw for a in single]


def test_short_answers_and_long_answers_are_separate_batches(llava, image, script):
    llava.budgets = {**llava.budgets, "detect": 96}
    with script(llava, {}, default="[]"):
        llava.answer(image, many_subqueries(2))
    assert llava.stats["generate_calls"] == 2 and llava.stats["vision_calls"] == 1


# ---------------------------------------------------------------------------------------- scripted answers

def _detect_reply(backend) -> tuple[str, tuple[float, float, float, float]]:
    """A grounding reply in the backend's box convention, and the image-fraction box it means."""
    if backend.box_kind == "pixels":  # the 48x64 test image is seen as 56x56 by the tiny Qwen
        return '[{"bbox_2d":[14,14,42,28],"color":"green"}]', (0.25, 0.25, 0.75, 0.5)
    return '[{"bbox_2d":[0.25,0.25,0.75,0.5],"color":"green"}]', (0.25, 0.25, 0.75, 0.5)


def test_scripted_answers_for_every_kind(any_vlm, image, script):
    reply, box = _detect_reply(any_vlm)
    qs = many_subqueries(2)
    plan = {
        "How many instances of pin are there? ": "3",
        "Is there a red cap": "Yes.",
        "What is the color of the cap": "Blue",
        "Is the lid open": "no",
        "What is the length of the pin": "12.5 mm",
        "Is the icon to the left of the label": "yes",
        "Locate every instance of a pin": reply,
        "`cell[0]`": "two",
        "`cell[1]`": "None.",
    }
    with script(any_vlm, plan) as s:
        answers = any_vlm.answer(image, qs)
    values = [a.value for a in answers]
    assert values[:6] == [3, True, "blue", False, 12.5, True]
    (inst,) = values[6]
    assert inst.box == pytest.approx(box) and inst.attributes == (("color", "green"),)
    assert values[7:] == [2, 0]
    assert all(a.error is None for a in answers)
    assert [a.raw for a in answers][:3] == ["3", "Yes.", "Blue"]
    assert len(s.seen_prompts) == len(qs)
    if any_vlm.box_kind == "pixels":
        assert any("56x56 image" in p for p in s.seen_prompts)


def test_confidence_comes_from_token_probabilities(any_vlm, image, script):
    qs = [Exists("cap", "a red cap"), Attribute("cap", "the cap", COLOR), Count("pin", "pin"),
          Relation("above", "a", "the icon", "b", "the label")]
    plan = {
        "Is there a red cap": ("yes", {"no": 0.3}),
        "What is the color": ("blue", {"red": 0.1, "green": 0.2}),
        "How many": ("4", {"5": 0.25}),
        "Is the icon above": ("no", {"yes": 0.4, "z": 0.1}),
    }
    with script(any_vlm, plan):
        a_exists, a_color, a_count, a_rel = any_vlm.answer(image, qs)
    assert a_exists.value is True and a_exists.confidence == pytest.approx(0.7, abs=1e-3)
    assert a_color.value == "blue" and a_color.confidence == pytest.approx(0.7, abs=1e-3)
    assert a_count.value == 4 and a_count.confidence == pytest.approx(0.75, abs=1e-3)
    # the closed-set probability ignores mass outside the set: 0.5 / (0.5 + 0.4)
    assert a_rel.value is False and a_rel.confidence == pytest.approx(0.5 / 0.9, abs=1e-3)


def test_unparseable_replies_are_undecided_with_the_raw_text(any_vlm, image, script):
    qs = [Count("pin", "pin"), Exists("cap", "a cap"), Attribute("cap", "the cap", COLOR),
          Detect("pin", "a pin")]
    # (short enough for the test budgets: a reply cut at the budget is still kept as raw)
    plan = {"How many": "many", "Is there a cap": "hmm", "What is the color": "purple",
            "Locate every": "the pins are at the top"}
    with script(any_vlm, plan):
        answers = any_vlm.answer(image, qs)
    for a, raw in zip(answers, plan.values()):
        assert a.value is None and a.error.startswith("unparseable answer") and a.raw == raw
    assert "is not one of: red, blue, green" in answers[2].error


def test_random_model_babble_never_raises(any_vlm, image):
    short_budgets(any_vlm, 12)
    answers = any_vlm.answer(image, many_subqueries(3))
    for a in answers:
        assert (a.value is not None) or (a.error and a.raw is not None)


def test_think_mode(any_vlm, image, script):
    any_vlm.think = True
    plan = {"How many": "<think>two at the top, one below</think><answer>3</answer>",
            "Is there": ("<think>I see no cap</think><answer>no</answer>", {}),
            "What is the color": "<think>it is bluish</think>\n<answer>blue</answer>"}
    qs = [Count("pin", "pin"), Exists("cap", "a cap"), Attribute("cap", "the cap", COLOR)]
    with script(any_vlm, plan) as s:
        answers = any_vlm.answer(image, qs)
    assert [a.value for a in answers] == [3, False, "blue"]
    assert all(THINK_INSTRUCTION[:40] in p for p in s.seen_prompts)
    assert answers[0].raw.startswith("<think>")
    # the confidence is read at the answer's first token, after the reasoning
    assert answers[2].confidence == pytest.approx(1.0, abs=1e-3)


def test_measure_fails_softly_and_unreadable_images_raise_image_error(llava, image, tmp_path):
    (a,) = llava.answer(image, [Measure("width", "cap", "the cap")])
    assert a.value is None and "does not answer `measure`" in a.error
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageError, match="not an image file"):  # the executor reports it per image
        llava.answer(ImageRef.of(bad), [Count("pin", "pin"), Exists("cap", "a cap")])


# ---------------------------------------------------------------------------------------- crops

def test_box_regions_are_asked_on_their_crops(any_vlm, image, script):
    any_vlm.crop_regions = True
    qs = [Count("pin", "pin"), Count("pin", "pin", region=Region("box", "left", box=(0, 0, 0.5, 1))),
          Exists("pin", "a pin", region=Region("box", "right", box=(0.5, 0, 1, 1)))]
    plan = {"How many instances of pin are there? ": "5", "Is there a pin in the image?": "yes"}
    with count_vision_forwards(any_vlm.model) as calls, script(any_vlm, plan) as s:
        answers = any_vlm.answer(image, qs)
    assert [a.value for a in answers] == [5, 5, True]
    assert not any("`left`" in p or "`right`" in p for p in s.seen_prompts)  # the crop is the region
    assert len(calls) == 1  # the image and its two crops are encoded in one call
    if hasattr(calls[0][0], "shape") and calls[0][0].ndim == 4:  # LLaVA: a batch of views
        assert calls[0][0].shape[0] == 3


def test_object_regions_are_grounded_then_cropped(any_vlm, image, script):
    any_vlm.crop_regions = True
    two_boxes = ('[{"bbox_2d": [0, 0, 28, 28]}, {"bbox_2d": [28, 28, 56, 56]}]' if any_vlm.box_kind == "pixels"
                 else '[{"bbox_2d": [0, 0, 0.5, 0.5]}, {"bbox_2d": [0.5, 0.5, 1, 1]}]')
    label = Region("object", "label", object="label", object_description="the label")
    qs = [Count("pin", "pin", region=label), Exists("icon", "an icon", region=label),
          Exists("cap", "a cap", region=Region("object", "box", object="box", object_description="the box"))]
    plan = {"Locate every instance of the label": two_boxes, "Locate every instance of the box": "[]",
            "How many instances of pin are there?": "2", "Is there an icon in the image?": "no"}
    with count_vision_forwards(any_vlm.model) as calls, script(any_vlm, plan) as s:
        answers = any_vlm.answer(image, qs)
    assert answers[0].value == 4  # 2 per label instance
    assert answers[1].value is False
    assert len(answers[0].instances) == 2
    assert answers[2].value is None and "not found" in answers[2].error
    assert len(calls) == 2  # wave 1 (image, groundings), wave 2 (all crops)
    assert sum("Locate every instance of the label" in p for p in s.seen_prompts) == 1  # grounded once


def test_object_box_region(qwen, image, script):
    qwen.crop_regions = True
    neck = Region("object_box", "neck", box=(0.25, 0, 0.75, 0.5), object="bottle", object_description="the bottle")
    plan = {"Locate every instance of the bottle": '[{"bbox_2d": [0, 0, 56, 56]}]', "Is there a crack": "yes"}
    with script(qwen, plan):
        (a,) = qwen.answer(image, [Exists("crack", "a crack", region=neck)])
    assert a.value is True


def test_tiny_models_are_saved_as_safetensors(tiny_llava_dir, tiny_qwen_dir):
    for d in (tiny_llava_dir, tiny_qwen_dir):
        assert list(Path(d).glob("*.safetensors")) and not list(Path(d).glob("*.bin"))
        cfg = json.loads((Path(d) / "config.json").read_text())
        assert cfg["model_type"] in ("llava", "qwen2_5_vl")


def test_model_id_from_the_hugging_face_cache(tiny_llava_dir, tmp_path, monkeypatch):
    """`--model ORG/NAME` resolves to the snapshot in the local HF cache, offline."""
    import shutil

    from huggingface_hub import constants

    from logicdsl.engine.vlm import resolve_model_path

    repo = tmp_path / "hub" / "models--tiny-org--tiny-llava"
    snap = repo / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_llava_dir, snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve_model_path("tiny-org/tiny-llava") == snap
    with pytest.raises(BackendError, match="hf download tiny-org/other"):
        resolve_model_path("tiny-org/other")
