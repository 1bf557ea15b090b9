"""Prompts and answer parsing (pure Python): every parsing path driven by recorded model replies."""

from __future__ import annotations

import pytest

from logicdsl.engine.prompts import (
    THINK_INSTRUCTION,
    YES_NO,
    BoxFormat,
    answer_offset,
    box_format_for_model,
    build_prompt,
    closed_set_confidence,
    extract_answer,
    parse_answer,
    parse_boxes,
    parse_choice,
    parse_count,
    parse_number,
    parse_yes_no,
)
from logicdsl.engine.subquery import (
    Attribute,
    AttributeSpec,
    AttrFilter,
    Count,
    Detect,
    Exists,
    Measure,
    Region,
    Relation,
)

COLOR = AttributeSpec("color", "enum", ("red", "dark red", "blue"))
OPEN = AttributeSpec("open", "bool")
LENGTH = AttributeSpec("length", "number", low=0, high=50)
CELL = Region("box", "cell[1][2]", box=(0.25, 0.0, 0.5, 0.5))
LABEL = Region("object", "label", object="label", object_description="the fruit label")
NECK = Region("object_box", "neck", box=(0.3, 0.0, 0.7, 0.25), object="bottle", object_description="the bottle")

Q_COUNT = Count("pin", "pin")
Q_EXISTS = Exists("cap", "a red cap")
Q_ENUM = Attribute("cap", "the cap", COLOR)
Q_BOOL = Attribute("lid", "the lid", OPEN)
Q_NUM = Attribute("pin", "the pin", LENGTH)
Q_REL = Relation("left_of", "icon", "the icon", "label", "the label")
Q_DETECT = Detect("pin", "a pin", (COLOR, OPEN, LENGTH))


# ------------------------------------------------------------------------------------------ counts

@pytest.mark.parametrize("text,value", [
    ("3", 3), ("3.", 3), (" 12 ", 12), ("There are 4 pins.", 4), ("three", 3), ("Three.", 3),
    ("twenty-one", 21), ("twenty one pins", 21), ("a dozen", 12), ("one hundred and five", 105),
    ("No pins.", 0), ("none", 0), ("zero", 0), ("There is nothing.", 0), ("a single pin", 1),
    ("1,000", 1000), ("0", 0),
])
def test_count_parses(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["", "many", "I cannot tell", "-2", "2.5", "some pins"])
def test_count_refuses(text):
    assert parse_count(text) is None


# ------------------------------------------------------------------------------------------ yes/no

@pytest.mark.parametrize("text,value", [
    ("yes", True), ("Yes.", True), ("YES", True), ("yeah, there is", True), ("Yep", True), ("True", True),
    ("correct", True), ("no", False), ("No.", False), ("nope", False), ("False", False),
    ("No, there isn't.", False), ("I think the answer is yes.", True), ("The answer: no", False),
])
def test_yes_no_parses(text, value):
    assert parse_yes_no(text) is value


@pytest.mark.parametrize("text", ["", "maybe", "I cannot see it", "maybe yes, maybe no", "Not sure"])
def test_yes_no_refuses(text):
    assert parse_yes_no(text) is None


# ------------------------------------------------------------------------------------------ choices

@pytest.mark.parametrize("text,value", [
    ("red", "red"), ("Red.", "red"), ('"blue"', "blue"), ("**Blue**", "blue"), ("dark red", "dark red"),
    ("Dark_Red", "dark red"), ("dark-red", "dark red"), ("The cap is dark red.", "dark red"),
    ("It looks blue to me", "blue"),
])
def test_choice_parses(text, value):
    assert parse_choice(text, COLOR.values) == value


@pytest.mark.parametrize("text", ["crimson", "green", "red or blue", "", "it is red, not blue"])
def test_choice_refuses_outside_or_ambiguous(text):
    assert parse_choice(text, COLOR.values) is None


@pytest.mark.parametrize("text,value", [("12.5 mm", 12.5), ("about 7", 7.0), ("-3.25", -3.25), ("seven", 7.0),
                                        ("0,5", 0.5), (".75", 0.75)])
def test_number_parses(text, value):
    assert parse_number(text) == pytest.approx(value)


def test_number_refuses_words():
    assert parse_number("long") is None


# ------------------------------------------------------------------------------------------ think

def test_extract_answer_think_forms():
    assert extract_answer("<think>two red, one blue</think><answer>3</answer>", True) == "3"
    assert extract_answer("<think>hmm</think> 4", True) == "4"
    assert extract_answer("<answer> yes ", True) == "yes"  # unterminated answer tag
    assert extract_answer("<think>still thinking...", True) == ""  # cut off mid-thought
    assert extract_answer("5", True) == "5"  # a model that skipped the format
    assert extract_answer("  plain ", False) == "plain"
    text = "<think>x</think><answer>blue</answer>"
    assert text[answer_offset(text):].startswith("blue")
    assert answer_offset("<think>a</think>\n no") == len("<think>a</think>\n ")
    assert answer_offset("yes") == 0


def test_think_answers_through_parse_answer():
    a = parse_answer(Q_COUNT, "<think>I see 2 on the left and 1 on the right</think><answer>3</answer>", think=True)
    assert a.value == 3 and a.raw.startswith("<think>")
    a = parse_answer(Q_EXISTS, "<think>no cap visible", think=True)
    assert a.value is None and "no final answer" in a.error


# ------------------------------------------------------------------------------------------ boxes

def test_boxes_qwen25_pixels_in_json_fence():
    text = '```json\n[\n\t{"bbox_2d": [14, 28, 42, 56], "label": "pin", "color": "Blue", "open": "yes", ' \
           '"length": 12}\n]\n```'
    (inst,) = parse_boxes(text, BoxFormat("pixels", 56, 112), Q_DETECT.attributes)
    assert inst.box == pytest.approx((0.25, 0.25, 0.75, 0.5))
    assert inst.attributes == (("color", "blue"), ("length", 12.0), ("open", True))


def test_boxes_norm1000_fraction_and_lenient_json():
    text = "[{'bbox': [100, 200, 300, 400], 'label': 'pin',}, {'box': [500, 500, 900, 1000]},]"
    inst = parse_boxes(text, BoxFormat("norm1000"))
    assert [i.box for i in inst] == [pytest.approx((0.1, 0.2, 0.3, 0.4)), pytest.approx((0.5, 0.5, 0.9, 1.0))]
    inst = parse_boxes('[{"bbox_2d": [0.1, 0.2, 0.3, 0.4]}]', BoxFormat("fraction"))
    assert inst[0].box == pytest.approx((0.1, 0.2, 0.3, 0.4))


def test_boxes_convention_slips():
    # asked for pixels, answered in fractions
    inst = parse_boxes('[{"bbox_2d": [0.1, 0.2, 0.5, 0.6]}]', BoxFormat("pixels", 640, 480))
    assert inst[0].box == pytest.approx((0.1, 0.2, 0.5, 0.6))
    # asked for fractions, answered in 0..1000
    inst = parse_boxes('[{"bbox_2d": [100, 200, 500, 600]}]', BoxFormat("fraction"))
    assert inst[0].box == pytest.approx((0.1, 0.2, 0.5, 0.6))
    # swapped corners and out-of-image coordinates are normalised and clipped
    inst = parse_boxes('[{"bbox_2d": [80, 60, -5, 10]}]', BoxFormat("pixels", 64, 48))
    assert inst[0].box == pytest.approx((0.0, 10 / 48, 1.0, 1.0))


def test_boxes_qwen2_tokens_points_and_bare_lists():
    inst = parse_boxes("<|object_ref_start|>pin<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>",
                       BoxFormat("fraction"))
    assert inst[0].box == pytest.approx((0.1, 0.2, 0.3, 0.4))
    inst = parse_boxes("pin at [10, 10, 20, 20] and [30, 30, 40, 40]", BoxFormat("pixels", 100, 100))
    assert len(inst) == 2 and inst[1].box == pytest.approx((0.3, 0.3, 0.4, 0.4))
    inst = parse_boxes('[{"bbox_2d": [[10, 10], [20, 20]]}]', BoxFormat("pixels", 100, 100))
    assert inst[0].box == pytest.approx((0.1, 0.1, 0.2, 0.2))
    inst = parse_boxes('{"bbox_2d": [10, 10, 20, 20], "label": "pin"}', BoxFormat("pixels", 100, 100))
    assert len(inst) == 1


@pytest.mark.parametrize("text", ["[]", "```json\n[]\n```", "None.", "There are no pins.", "nothing"])
def test_boxes_none(text):
    assert parse_boxes(text, BoxFormat()) == []


@pytest.mark.parametrize("text", ["I see some pins", '[{"label": "pin"}]', "[1, 2]", '{"bbox_2d": "left"}'])
def test_boxes_unreadable(text):
    assert parse_boxes(text, BoxFormat()) is None


def test_boxes_drop_degenerate_and_bad_attributes():
    text = '[{"bbox_2d": [10, 10, 10, 20]}, {"bbox_2d": [1, 1, 5, 5], "color": "purple", "length": "long"}]'
    inst = parse_boxes(text, BoxFormat("pixels", 10, 10), Q_DETECT.attributes)
    assert len(inst) == 1 and inst[0].attributes == ()


def test_box_format_by_model():
    assert box_format_for_model("qwen2_5_vl") == "pixels"
    assert box_format_for_model("Qwen/Qwen2.5-VL-7B-Instruct") == "pixels"
    assert box_format_for_model("Qwen/Qwen2-VL-7B-Instruct") == "norm1000"
    assert box_format_for_model("qwen3_vl") == "norm1000"
    assert box_format_for_model("llava") == "fraction"
    assert box_format_for_model("llava", "pixels") == "pixels"


# ------------------------------------------------------------------------------------------ confidence

def test_closed_set_confidence():
    assert closed_set_confidence({"Yes": 0.6, " no": 0.2, "Maybe": 0.2}, YES_NO, "yes") == pytest.approx(0.75)
    # token variants of one candidate add up; "true" counts for yes
    assert closed_set_confidence({"y": 0.3, "Yes": 0.3, "true": 0.1, "No": 0.3}, YES_NO, "no") == pytest.approx(0.3)
    # a first token shared by two values is split between them
    c = closed_set_confidence({"dark": 0.5, "red": 0.3, "blue": 0.2}, COLOR.values, "blue")
    assert c == pytest.approx(0.2)
    assert closed_set_confidence({"x": 1.0}, YES_NO, "yes") is None
    assert closed_set_confidence({"yes": 1.0}, YES_NO, "maybe") is None


# ------------------------------------------------------------------------------------------ prompts

def test_prompts_per_kind():
    p = build_prompt(Q_COUNT)
    assert "single number" in p.text and p.candidates == () and p.max_new_tokens <= 16
    p = build_prompt(Q_EXISTS)
    assert p.text.endswith("Answer yes or no.") and p.candidates == YES_NO
    p = build_prompt(Q_ENUM)
    assert "red, dark red, blue" in p.text and p.candidates == COLOR.values
    assert build_prompt(Q_BOOL).candidates == YES_NO
    assert build_prompt(Q_NUM).candidates == ()
    assert build_prompt(Q_REL).text.startswith("Is the icon to the left of the label?")
    p = build_prompt(Q_DETECT, box_format=BoxFormat("pixels", 640, 480))
    assert '"bbox_2d": [x1, y1, x2, y2]' in p.text and "640x480" in p.text
    assert '"color": one of "red" | "dark red" | "blue"' in p.text and '"open": true or false' in p.text
    assert '"length": a number from 0 to 50' in p.text and p.max_new_tokens > 100
    assert "0 to 1000" in build_prompt(Q_DETECT, box_format=BoxFormat("norm1000")).text
    assert "fractions" in build_prompt(Q_DETECT).text
    assert "number between 0 and 1" in build_prompt(Measure("width", "cap", "the cap")).text


def test_prompts_regions_and_crops():
    q = Count("pin", "pin", region=CELL)
    text = build_prompt(q).text
    assert "`cell[1][2]`" in text and "x from 25% to 50%" in text and "y from 0% to 50%" in text
    on_crop = build_prompt(q, on_crop=True).text
    assert "cell" not in on_crop and on_crop.startswith("How many instances of pin are there?")
    assert "inside the fruit label" in build_prompt(Exists("icon", "an icon", region=LABEL)).text
    assert build_prompt(Exists("icon", "an icon", region=LABEL), on_crop=True).text.startswith(
        "Is there an icon in the image?")
    assert "`neck` part of the bottle" in build_prompt(Exists("crack", "a crack", region=NECK)).text
    q = Count("pin", "pin", where=AttrFilter(COLOR, "!=", "red"))
    assert "whose color is not red" in build_prompt(q).text


def test_prompts_think_mode():
    p = build_prompt(Q_COUNT, think=True)
    assert p.text.endswith(THINK_INSTRUCTION) and p.max_new_tokens > 200
    assert build_prompt(Q_COUNT, max_new_tokens={"count": 3}).max_new_tokens == 3


# ------------------------------------------------------------------------------------------ answers

@pytest.mark.parametrize("q,text,value", [
    (Q_COUNT, "There are three pins.", 3),
    (Q_EXISTS, "Yes, at the top.", True),
    (Q_REL, "no", False),
    (Q_ENUM, "Dark red.", "dark red"),
    (Q_BOOL, "yes", True),
    (Q_NUM, "12.5", 12.5),
    (Measure("width", "cap", "the cap"), "0.25", 0.25),
])
def test_parse_answer_values(q, text, value):
    a = parse_answer(q, text, sequence_prob=0.9)
    assert a.value == value and a.error is None and a.raw == text and a.confidence == pytest.approx(0.9)


def test_parse_answer_detect():
    a = parse_answer(Q_DETECT, '[{"bbox_2d": [0, 0, 32, 24], "color": "red"}]', box_format=BoxFormat("pixels", 64, 48),
                     sequence_prob=0.8)
    assert a.value[0].box == pytest.approx((0, 0, 0.5, 0.5)) and a.value[0].attribute("color") == "red"
    assert a.value[0].score == pytest.approx(0.8)
    assert parse_answer(Q_DETECT, "[]").value == []


def test_parse_answer_confidence_from_alternatives():
    a = parse_answer(Q_EXISTS, "yes", first_token_alternatives={"yes": 0.8, "no": 0.2}, sequence_prob=0.5)
    assert a.confidence == pytest.approx(0.8)
    a = parse_answer(Q_ENUM, "blue", first_token_alternatives={"blue": 0.5, "red": 0.25, "dark": 0.25})
    assert a.confidence == pytest.approx(0.5)


@pytest.mark.parametrize("q,text,why", [
    (Q_COUNT, "lots", "is not a count"),
    (Q_EXISTS, "I cannot see", "is not yes or no"),
    (Q_ENUM, "crimson", "is not one of: red, dark red, blue"),
    (Q_NUM, "long", "is not a number"),
    (Q_DETECT, "there are some pins", "holds no boxes"),
    (Q_COUNT, "\x00\x01\ufffd\ufffd\x02\x03", "garbled"),
    (Q_COUNT, "", "empty answer"),
    (Q_COUNT, None, "empty answer"),
])
def test_parse_answer_unparseable_is_undecided_with_raw(q, text, why):
    a = parse_answer(q, text)
    assert a.value is None and why in a.error and a.raw == text
    if text:
        assert a.error.startswith("unparseable answer")


def test_parse_answer_never_raises_on_junk():
    junk = ["[" * 50, "{" * 10 + "]", '[{"bbox_2d": [1e999, 0, 1, 1]}]', '[{"bbox_2d": [null, 0, 1, 1]}]',
            "<answer></answer>", "<think></think>", "```json\n{\n```", "NaN", "∞", "٣", "3" * 400]
    for text in junk:
        for q in (Q_COUNT, Q_EXISTS, Q_ENUM, Q_BOOL, Q_NUM, Q_REL, Q_DETECT):
            a = parse_answer(q, text)
            assert a.value is not None or a.error
