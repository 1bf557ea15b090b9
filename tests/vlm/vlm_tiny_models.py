"""Tiny vision-language models built offline from configs: random weights, a byte-level tokenizer
built with `tokenizers`, saved as safetensors. Nothing is downloaded.

Two families:
  - LLaVA: CLIP vision tower + Llama text model, `LlavaProcessor` with the PIL CLIP image processor
    (loads with `AutoProcessor` and is served by `transformers serve FOLDER`);
  - Qwen2.5-VL: its own windowed ViT + Qwen2 text model with M-RoPE, `Qwen2VLImageProcessorPil`.

Used by tests/vlm/conftest.py and benchmarks/test_vlm_bench.py.
"""

from __future__ import annotations

import json
from pathlib import Path

LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' or item['type'] == 'image_url' %}{{ '<image>\n' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '</s>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' or item['type'] == 'image_url' or 'image' in item %}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _byte_tokenizer(specials: list[str], eos: str, pad: str, bos: str | None = None, extra: dict | None = None):
    """A byte-level BPE tokenizer with no merges: 256 byte tokens, then the special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    kwargs = dict(eos_token=eos, pad_token=pad, padding_side="left")
    if bos:
        kwargs["bos_token"] = bos
    kwargs.update(extra or {})
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)


def build_tiny_llava(folder: str | Path, image_size: int = 28, seed: int = 0) -> Path:
    """A ~100k-parameter LLaVA (CLIP ViT 1 layer, Llama 2 layers) saved to ``folder``."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "</s>", "<pad>", "<image>", "<|user|>", "<|assistant|>", "<|system|>"]
    tokenizer = _byte_tokenizer(specials, eos="</s>", pad="<pad>", bos="<s>")
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in specials}

    patch = 14
    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        image_size=image_size, patch_size=patch, projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=ids["<s>"], eos_token_id=ids["</s>"], pad_token_id=ids["<pad>"],
    )
    n_image_tokens = (image_size // patch) ** 2
    config = LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=ids["<image>"],
        image_seq_length=n_image_tokens, vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["</s>"]
    model.generation_config.pad_token_id = ids["<pad>"]
    model.generation_config.bos_token_id = ids["<s>"]
    model.generation_config.do_sample = False
    model.save_pretrained(folder, safe_serialization=True)

    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
        do_center_crop=True, do_resize=True,
    )
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    processor.save_pretrained(folder)
    return folder


def build_tiny_qwen2_5_vl(folder: str | Path, seed: int = 0) -> Path:
    """A tiny Qwen2.5-VL (1-layer windowed ViT, 2-layer Qwen2 text with M-RoPE) saved to ``folder``.

    The image processor resizes to multiples of 28 px within [28*28, 56*56] pixels, so an image
    becomes at most 4 x 4 patches of 14 px = 4 merged visual tokens.
    """
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
    )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = [
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
        "<|image_pad|>", "<|video_pad|>", "<|box_start|>", "<|box_end|>",
    ]
    tokenizer = _byte_tokenizer(specials, eos="<|im_end|>", pad="<|endoftext|>")
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in specials}

    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
            fullatt_block_indexes=[0],
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.do_sample = False
    model.save_pretrained(folder, safe_serialization=True)

    image_processor = Qwen2VLImageProcessorPil(
        patch_size=14, merge_size=2, temporal_patch_size=2,
        size={"shortest_edge": 28 * 28, "longest_edge": 56 * 56},
    )
    # Saved the way the hub checkpoints are laid out (preprocessor_config.json naming the processor
    # class, tokenizer files, chat_template.jinja). `Qwen2_5_VLProcessor(...)` itself cannot be
    # constructed without torchvision (its video processor), which is exactly what the backend's
    # loader has to cope with.
    image_processor.save_pretrained(folder)
    cfg_path = folder / "preprocessor_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["processor_class"] = "Qwen2_5_VLProcessor"
    cfg_path.write_text(json.dumps(cfg, indent=2))
    tokenizer.save_pretrained(folder)
    (folder / "chat_template.jinja").write_text(QWEN_CHAT_TEMPLATE)
    return folder


if __name__ == "__main__":  # pragma: no cover - manual use: python vlm_tiny_models.py OUT
    import sys

    out = Path(sys.argv[1])
    print(build_tiny_llava(out / "tiny-llava"))
    print(build_tiny_qwen2_5_vl(out / "tiny-qwen2_5_vl"))
    print(json.dumps(sorted(p.name for p in (out / "tiny-llava").iterdir())))
