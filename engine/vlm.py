"""The ``vlm`` backend: a vision-language model run in-process with transformers.

Construction (the CLI maps its options onto these)::

    VLMBackend(
        model,                   # a local folder, or a Hugging Face id already in the HF cache
        device=None,             # "cuda", "cuda:1", "mps", "cpu"; None: CUDA when present, else CPU
        dtype=None,              # "bfloat16", "float16", "float32"; None: bf16 on CUDA (fp16 if the GPU
                                 #   lacks bf16), float32 on CPU
        trust_remote_code=False, # models whose code is not in transformers need it; off by default
        think=False,             # chain of thought: <think>…</think><answer>…</answer>
        crop_regions=False,      # ask region subqueries (`pin in c`) on the crop of the region
        max_new_tokens=None,     # an int (all kinds) or {kind: tokens}; default prompts.MAX_NEW_TOKENS
        box_format="auto",       # how the model writes boxes: auto | pixels | norm1000 | fraction
        crop_margin=0.0,         # crops grow by this fraction of their size on each side
        max_batch=64,            # rows per generate call (memory bound); one image encoding regardless
    )

Needs the ``vlm`` extra (``pip install 'logicdsl[vlm]'``: torch, transformers, tokenizers,
safetensors); importing this module does not import torch — that happens in the constructor.
Weights are loaded from safetensors only, never downloaded: a missing model is a
:class:`BackendError` that says how to get it.

How one ``answer(image, subqueries)`` call runs:

1. every subquery gets a short prompt (``prompts.build_prompt``); with ``crop_regions`` a region
   subquery is asked on its crop (``box`` regions directly; ``object``/``object_box`` regions after
   a grounding ``Detect`` of the object, asked in the same first batch);
2. the *views* (the image, and its crops) go through the image processor and the vision encoder
   **once**, in one call (``get_image_features``);
3. the prompts are batched (left-padded) and generated greedily with ``generate(...,
   mm_encoder_outputs=...)``: each row gets the precomputed features of its view, so the vision
   tower never runs again (a forward hook on it counts exactly one call per wave). The language
   model still prefills each row's image tokens (no KV-prefix sharing: positions under M-RoPE and
   left padding make a shared prefix cache fragile; the vision encoder is the cost we remove);
4. confidence comes from token probabilities: for a closed set (yes/no, an enum) the probability of
   the chosen value among the set, read from the distribution of the answer's first token; for
   counts and numbers the probability of the generated answer tokens; for boxes their geometric mean.

Processors whose ``AutoProcessor`` needs torchvision for a video processor (Qwen2-VL, Qwen2.5-VL,
SmolVLM) are built from their image processor (PIL backend) and tokenizer instead.
Models whose processor cannot expand image placeholders without the images (no
``replace_image_token``) fall back to a plain batch in which every row carries the image
(still one vision call per batch, but every copy is encoded); ``stats["fast_path"]`` says which ran.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .backend import BackendError
from .crops import RegionPlan, Task, crop
from .image import ImageRef
from .prompts import (
    MAX_NEW_TOKENS,
    BoxFormat,
    Prompt,
    answer_offset,
    box_format_for_model,
    build_prompt,
    parse_answer,
)
from .subquery import Answer, Subquery

log = logging.getLogger(__name__)

VLM_CAPABILITIES = frozenset({"count", "exists", "attribute", "relation", "detect"})
#: special tokens kept in decoded text (they carry answer structure)
_KEEP_SPECIAL = {"<|box_start|>", "<|box_end|>", "<think>", "</think>", "<answer>", "</answer>"}
_SHORT_BUDGET = 32  # rows with at most this many new tokens are generated together


def _install_hint() -> str:
    return "install the vlm extra: pip install 'logicdsl[vlm]'"


def resolve_model_path(model: str) -> Path:
    """A local folder, or the snapshot of a Hugging Face id in the local cache. Never downloads."""
    p = Path(model).expanduser()
    if p.is_dir():
        return p
    # a Hugging Face id is `name` or `org/name`; anything else is meant as a path
    looks_like_path = model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model
    if looks_like_path or p.exists():
        raise BackendError(f"model folder `{model}` does not exist (or is not a folder); pass a folder that holds "
                           "config.json and *.safetensors, or a Hugging Face id such as Qwen/Qwen2.5-VL-3B-Instruct")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        raise BackendError(f"cannot look up `{model}` in the Hugging Face cache; {_install_hint()}") from None
    try:
        return Path(snapshot_download(model, local_files_only=True))
    except Exception:  # noqa: BLE001 - LocalEntryNotFoundError, invalid ids, ...
        raise BackendError(
            f"model `{model}` is not in the Hugging Face cache and is not a local folder; download it first with "
            f"`hf download {model}` (or `huggingface-cli download {model}`), or pass the folder that holds it"
        ) from None


def _check_weights(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise BackendError(f"`{path}` has no config.json: not a transformers model folder")
    if not any(path.glob("*.safetensors")):
        if any(path.glob("*.bin")) or any(path.glob("*.pt")):
            raise BackendError(f"`{path}` holds only pickle weights (*.bin); the vlm backend loads safetensors only "
                               "— convert them, or download the model's safetensors revision")
        raise BackendError(f"`{path}` has no *.safetensors weights; download the full model "
                           "(e.g. `hf download ORG/NAME --local-dir DIR`)")


def _pick_device(device: str | None):
    import torch

    if device:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _pick_dtype(dtype: str | None, device):
    import torch

    if dtype:
        try:
            return getattr(torch, dtype.replace("bf16", "bfloat16").replace("fp16", "float16").replace("fp32", "float32"))
        except AttributeError:
            raise BackendError(f"unknown dtype `{dtype}`; use bfloat16, float16 or float32") from None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _torchvision_available() -> bool:
    try:
        from transformers.utils import is_torchvision_available

        return bool(is_torchvision_available())
    except ImportError:  # pragma: no cover
        return False


def _load_processor(path: Path, trust_remote_code: bool = False):
    """``AutoProcessor``, or — when it pulls a torchvision video processor that cannot load — the
    model's processor class built from its image processor and tokenizer, without video."""
    import transformers
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    try:
        proc = AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code, local_files_only=True)
        if hasattr(proc, "image_processor") and hasattr(proc, "tokenizer"):
            return proc
        first_error: Exception | None = TypeError(f"AutoProcessor gave a {type(proc).__name__}, not a processor")
    except (ImportError, AttributeError, ValueError, TypeError, OSError) as e:
        first_error = e

    cls_name = None
    for name in ("processor_config.json", "preprocessor_config.json"):
        f = path / name
        if f.is_file():
            try:
                cls_name = json.loads(f.read_text()).get("processor_class") or cls_name
            except ValueError:
                pass
    cls = getattr(transformers, cls_name, None) if cls_name else None
    if cls is None:
        raise BackendError(f"cannot load the processor of `{path}` ({_one_line(first_error)})")
    try:
        image_processor = AutoImageProcessor.from_pretrained(
            path, trust_remote_code=trust_remote_code, local_files_only=True,
            **({} if _torchvision_available() else {"backend": "pil"}),
        )
    except TypeError:
        image_processor = AutoImageProcessor.from_pretrained(path, trust_remote_code=trust_remote_code,
                                                             local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, local_files_only=True)
    chat_template = None
    for name in ("chat_template.jinja", "chat_template.json"):
        f = path / name
        if f.is_file():
            text = f.read_text()
            chat_template = json.loads(text).get("chat_template") if name.endswith(".json") else text
            break
    chat_template = chat_template or getattr(tokenizer, "chat_template", None)
    kwargs: dict[str, Any] = {"image_processor": image_processor, "tokenizer": tokenizer}
    attrs = cls.get_attributes() if hasattr(cls, "get_attributes") else ["image_processor", "tokenizer"]
    for a in attrs:
        kwargs.setdefault(a, None)  # video_processor (and the like): none
    orig = cls.check_argument_for_proper_class

    def check(self, name, arg):  # a missing sub-processor is fine; the rest are checked as usual
        return None if arg is None else orig(self, name, arg)

    cls.check_argument_for_proper_class = check
    try:
        proc = cls(**kwargs, chat_template=chat_template)
    except Exception as e:  # noqa: BLE001
        raise BackendError(f"cannot build the processor of `{path}`: {_one_line(e)} "
                           f"(AutoProcessor failed first: {_one_line(first_error)})") from None
    finally:
        cls.check_argument_for_proper_class = orig
    log.info("built %s from its image processor and tokenizer (%s)", cls.__name__, _one_line(first_error))
    return proc


def _one_line(e: BaseException | None) -> str:
    if e is None:
        return ""
    text = " ".join(str(e).split())
    return (text[:200] + "…") if len(text) > 200 else (text or type(e).__name__)


@dataclass
class _Row:
    """One prompt to generate: the subquery slot it answers and the view it looks at."""

    slot: int  # index into the task list of this wave
    view: int
    prompt: Prompt
    box_format: BoxFormat = field(default_factory=BoxFormat)


@dataclass
class _Reply:
    text: str
    alternatives: dict[str, float] | None
    sequence_prob: float | None
    mean_prob: float | None


class VLMBackend:
    """See the module docstring."""

    name = "vlm"
    capabilities = VLM_CAPABILITIES

    def __init__(self, model: str, *, device: str | None = None, dtype: str | None = None,
                 trust_remote_code: bool = False, think: bool = False, crop_regions: bool = False,
                 max_new_tokens: int | Mapping[str, int] | None = None, box_format: str = "auto",
                 crop_margin: float = 0.0, max_batch: int = 64, top_k_alternatives: int = 20) -> None:
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as e:
            raise BackendError(f"the vlm backend needs torch and transformers ({e.name} is missing); "
                               f"{_install_hint()}") from None
        from transformers import AutoModelForImageTextToText

        self.path = resolve_model_path(model)
        _check_weights(self.path)
        self.model_name = model
        self.think = think
        self.crop_regions = crop_regions
        self.crop_margin = crop_margin
        self.max_batch = max(1, int(max_batch))
        self.top_k_alternatives = top_k_alternatives
        if isinstance(max_new_tokens, int):
            self.budgets = {k: max_new_tokens for k in MAX_NEW_TOKENS}
        else:
            self.budgets = {**MAX_NEW_TOKENS, **(max_new_tokens or {})}
        self.device = _pick_device(device)
        self.dtype = _pick_dtype(dtype, self.device)
        load = dict(dtype=self.dtype, trust_remote_code=trust_remote_code, use_safetensors=True,
                    local_files_only=True)
        if self.device.type == "cuda":  # straight onto the GPU, not through CPU RAM first
            load["device_map"] = str(self.device)
        try:
            try:
                self.model = AutoModelForImageTextToText.from_pretrained(self.path, **load)
            except ImportError:  # device_map needs accelerate
                load.pop("device_map", None)
                self.model = AutoModelForImageTextToText.from_pretrained(self.path, **load)
            self.model.to(self.device).eval()
        except Exception as e:  # noqa: BLE001 - one line for the CLI, whatever went wrong
            hint = "" if trust_remote_code else " (if its code is not in transformers, trust_remote_code=True may be needed)"
            raise BackendError(f"cannot load `{model}` as an image-text-to-text model on {self.device}: "
                               f"{_one_line(e)}" + (hint if isinstance(e, ValueError) else "")) from None
        self.processor = _load_processor(self.path, trust_remote_code)
        tok = self.processor.tokenizer
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        self.model_type = getattr(self.model.config, "model_type", "")
        self.box_kind = box_format_for_model(self.model_type, box_format)
        #: extra ``LogitsProcessor`` objects for generate (constrained decoding, tests)
        self.logits_processors: list[Any] = []
        #: counters: vision encoder calls, generate calls, images, subqueries, seconds, fast_path
        self.stats: dict[str, Any] = {"vision_calls": 0, "generate_calls": 0, "images": 0, "subqueries": 0,
                                      "seconds": 0.0, "fast_path": True}
        self._warned_fallback = False
        self._drop_ids: set[int] | None = None

    # ---------------------------------------------------------------------------------- public

    def answer(self, image: ImageRef, subqueries: Sequence[Subquery]) -> list[Answer]:
        t0 = time.perf_counter()
        self.stats["images"] += 1
        self.stats["subqueries"] += len(subqueries)
        pixels = image.load()  # an unreadable image is an ImageError: the executor reports it per image
        full = image.pil()
        plan = RegionPlan(subqueries, self.capabilities, self.crop_regions, self.name)
        first = self._run_wave(full, pixels, plan.first)
        second_tasks = plan.second(first)
        second = self._run_wave(full, pixels, second_tasks) if second_tasks else []
        self.stats["seconds"] += time.perf_counter() - t0
        return plan.finish(second)

    # ---------------------------------------------------------------------------------- internals

    def _run_wave(self, full, pixels, tasks: list[Task]) -> list[Answer]:
        """Answer ``tasks`` with one vision-encoder call over their distinct views."""
        if not tasks:
            return []
        from PIL import Image

        view_keys: list[Any] = []
        for t in tasks:
            if t.view not in view_keys:
                view_keys.append(t.view)
        views = [full if k == "full" else Image.fromarray(crop(pixels, k[1], self.crop_margin)) for k in view_keys]
        try:
            try:
                replies, formats = self._generate_fast(views, tasks, view_keys)
            except Exception as e:  # noqa: BLE001
                if "OutOfMemory" not in type(e).__name__ or self.max_batch == 1:
                    raise
                self._free_memory()
                self.max_batch = max(1, self.max_batch // 4)  # smaller batches from now on
                log.warning("vlm: out of GPU memory; retrying with batches of %d rows", self.max_batch)
                replies, formats = self._generate_fast(views, tasks, view_keys)
        except Exception as e:  # noqa: BLE001 - unknown processors/models: the plain path
            if not self._warned_fallback:
                log.warning("vlm: precomputed-feature path unavailable for %s (%s); encoding the image per row",
                            self.model_type, _one_line(e))
                self._warned_fallback = True
            self.stats["fast_path"] = False
            try:
                replies, formats = self._generate_plain(views, tasks, view_keys)
            except Exception as e2:  # noqa: BLE001 - never raise for a batch: every answer fails
                log.exception("vlm generation failed")
                return [Answer.failed(f"model error: {_one_line(e2)}") for _ in tasks]
        out = []
        for t, reply, bf in zip(tasks, replies, formats):
            q = t.query
            out.append(parse_answer(q, reply.text, think=self.think, box_format=bf,
                                    first_token_alternatives=reply.alternatives,
                                    sequence_prob=reply.mean_prob if q.kind == "detect" else reply.sequence_prob))
        return out

    def _free_memory(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _box_format(self, view_size: tuple[int, int], seen_size: tuple[int, int] | None) -> BoxFormat:
        if self.box_kind == "pixels":
            w, h = seen_size or view_size
            return BoxFormat("pixels", int(w), int(h))
        return BoxFormat(self.box_kind, *view_size)

    def _texts(self, tasks, view_keys, formats_by_view) -> tuple[list[str], list[_Row]]:
        rows, texts = [], []
        for slot, task in enumerate(tasks):
            q, on_crop = task.query, task.on_crop
            v = view_keys.index(task.view)
            bf = formats_by_view[v]
            prompt = build_prompt(q, box_format=bf, think=self.think, on_crop=on_crop, max_new_tokens=self.budgets)
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt.text}]}]
            texts.append(self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
            rows.append(_Row(slot=slot, view=v, prompt=prompt, box_format=bf))
        return texts, rows

    def _seen_sizes(self, pi, n: int) -> list[tuple[int, int] | None]:
        """The size each view had when the model saw it (Qwen-style dynamic resolution)."""
        grid = pi.get("image_grid_thw") if hasattr(pi, "get") else None
        patch = getattr(self.processor.image_processor, "patch_size", None)
        if grid is None or not patch:
            return [None] * n
        patch = patch if isinstance(patch, int) else patch.get("height", 14) if isinstance(patch, dict) else patch[0]
        return [(int(g[2]) * patch, int(g[1]) * patch) for g in grid.tolist()]

    def _generate_fast(self, views, tasks, view_keys):
        import torch
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        proc = self.processor
        pi = proc.image_processor(views, return_tensors="pt")
        seen = self._seen_sizes(pi, len(views))
        formats_by_view = [self._box_format(v.size, s) for v, s in zip(views, seen)]
        texts, rows = self._texts(tasks, view_keys, formats_by_view)
        reps = [proc.replace_image_token(pi, image_idx=i) for i in range(len(views))]
        base = getattr(self.model, "base_model", self.model)
        encode = base.get_image_features
        params = set(inspect.signature(encode).parameters)
        enc_kwargs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in pi.items() if k in params}
        if "pixel_values" in enc_kwargs and torch.is_floating_point(enc_kwargs["pixel_values"]):
            enc_kwargs["pixel_values"] = enc_kwargs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            feats = encode(**enc_kwargs, return_dict=True)
        self.stats["vision_calls"] += 1
        per_view = feats.pooler_output
        if isinstance(per_view, torch.Tensor):
            per_view = list(per_view.unbind(0)) if per_view.shape[0] == len(views) else None
        if per_view is None or len(per_view) != len(views):
            raise RuntimeError("image features are not split per image")

        replies: list[_Reply | None] = [None] * len(rows)
        for group in self._groups(rows):
            idx_rows = [rows[r] for r in group]
            row_texts = [texts[r] for r in group]
            row_texts, _ = proc.get_text_with_replacements(list(row_texts), [reps[r.view] for r in idx_rows])
            enc = proc.tokenizer(row_texts, return_tensors="pt", padding=True, add_special_tokens=False)
            inputs: dict[str, Any] = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
            if getattr(proc, "return_mm_token_type_ids", False) and hasattr(proc, "create_mm_token_type_ids"):
                inputs["mm_token_type_ids"] = torch.tensor(proc.create_mm_token_type_ids(enc["input_ids"].tolist()))
            sel = [r.view for r in idx_rows]
            for k in ("image_grid_thw", "image_sizes"):
                if k in pi:
                    inputs[k] = pi[k][sel]
            mm = _select_views(feats, per_view, sel, BaseModelOutputWithPooling)
            inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
            budgets = [r.prompt.max_new_tokens for r in idx_rows]
            for r, reply in zip(group, self._generate(inputs, budgets, mm_encoder_outputs={"image": mm})):
                replies[r] = reply
        return replies, [r.box_format for r in rows]

    def _generate_plain(self, views, tasks, view_keys):
        """Fallback: the processor's own path, every row carrying its image."""
        proc = self.processor
        try:
            seen = self._seen_sizes(proc.image_processor(views, return_tensors="pt"), len(views))
        except Exception:  # noqa: BLE001 - sizes are a nicety here
            seen = [None] * len(views)
        formats_by_view = [self._box_format(v.size, s) for v, s in zip(views, seen)]
        texts, rows = self._texts(tasks, view_keys, formats_by_view)
        replies: list[_Reply | None] = [None] * len(rows)
        for group in self._groups(rows):
            enc = proc(text=[texts[r] for r in group], images=[views[rows[r].view] for r in group],
                       return_tensors="pt", padding=True)
            inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in enc.items()}
            if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
                inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
            self.stats["vision_calls"] += 1
            budgets = [rows[r].prompt.max_new_tokens for r in group]
            for r, reply in zip(group, self._generate(inputs, budgets)):
                replies[r] = reply
        return replies, [r.box_format for r in rows]

    def _groups(self, rows: list[_Row]) -> list[list[int]]:
        """Rows split into a short-answer and a long-answer batch (and by ``max_batch``)."""
        short = [i for i, r in enumerate(rows) if r.prompt.max_new_tokens <= _SHORT_BUDGET]
        long = [i for i, r in enumerate(rows) if r.prompt.max_new_tokens > _SHORT_BUDGET]
        out = []
        for g in (short, long):
            for s in range(0, len(g), self.max_batch):
                out.append(g[s:s + self.max_batch])
        return [g for g in out if g]

    def _generate(self, inputs: dict[str, Any], budgets: list[int], **extra) -> list[_Reply]:
        """Greedy generation for a batch; each row's reply is cut to its own budget."""
        import torch
        from transformers import LogitsProcessorList

        gc = copy.deepcopy(self.model.generation_config)
        gc.do_sample = False
        gc.num_beams = 1
        for attr in ("temperature", "top_p", "top_k", "min_p", "typical_p"):
            if hasattr(gc, attr):
                setattr(gc, attr, None)
        gc.max_new_tokens = max(budgets)
        gc.return_dict_in_generate = True
        gc.output_scores = True
        tok = self.processor.tokenizer
        if gc.pad_token_id is None:
            gc.pad_token_id = tok.pad_token_id
        if gc.eos_token_id is None:
            gc.eos_token_id = tok.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(**inputs, **extra, generation_config=gc,
                                      logits_processor=LogitsProcessorList(self.logits_processors))
        self.stats["generate_calls"] += 1
        prompt_len = inputs["input_ids"].shape[1]
        seqs = out.sequences[:, prompt_len:].tolist()
        scores = out.scores  # one (batch, vocab) tensor per step, after logits processors
        stop = set(_as_list(gc.eos_token_id)) | {gc.pad_token_id}
        replies = []
        for b, ids in enumerate(seqs):
            ids = ids[: budgets[b]]
            end = next((j for j, t in enumerate(ids) if t in stop), len(ids))
            ids = ids[:end]
            text = self._decode(ids)
            start_char = answer_offset(text)
            first = _token_at_char(ids, start_char, self._decode)
            alts = None
            seq_lp: list[float] = []
            if first is not None and first < len(scores):
                logp = torch.log_softmax(scores[first][b].float(), dim=-1)
                k = min(self.top_k_alternatives, logp.shape[-1])
                top = torch.topk(logp, k)
                alts = {}
                for lp, tid in zip(top.values.tolist(), top.indices.tolist()):
                    if lp == float("-inf"):
                        continue
                    s = tok.decode([tid])
                    alts[s] = alts.get(s, 0.0) + float(torch.tensor(lp).exp())
                for j in range(first, min(len(ids), len(scores))):
                    v = float(torch.log_softmax(scores[j][b].float(), dim=-1)[ids[j]])
                    seq_lp.append(v)
            seq_prob = float(torch.tensor(sum(seq_lp)).exp()) if seq_lp else None
            mean_prob = float(torch.tensor(sum(seq_lp) / len(seq_lp)).exp()) if seq_lp else None
            replies.append(_Reply(text=text, alternatives=alts, sequence_prob=seq_prob, mean_prob=mean_prob))
        return replies

    def _decode(self, ids: list[int]) -> str:
        """Text of generated ids without special tokens, except those that carry answer structure."""
        tok = self.processor.tokenizer
        if self._drop_ids is None:
            drop = {tok.convert_tokens_to_ids(t) for t in getattr(tok, "all_special_tokens", []) if t not in _KEEP_SPECIAL}
            for i, added in getattr(tok, "added_tokens_decoder", {}).items():
                if getattr(added, "special", False) and str(added) not in _KEEP_SPECIAL:
                    drop.add(i)
            self._drop_ids = {i for i in drop if isinstance(i, int)}
        return tok.decode([i for i in ids if i not in self._drop_ids], skip_special_tokens=False)


def _as_list(v) -> list[int]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [int(x) for x in v]
    if hasattr(v, "tolist"):
        x = v.tolist()
        return [int(y) for y in (x if isinstance(x, list) else [x])]
    return [int(v)]


def _token_at_char(ids: list[int], offset: int, decode) -> int | None:
    """Index of the token in which character ``offset`` of ``decode(ids)`` starts."""
    if not ids:
        return None
    if offset <= 0:
        # skip tokens that decode to whitespace only
        for j in range(len(ids)):
            if decode(ids[: j + 1]).strip():
                return j
        return None
    for j in range(len(ids)):
        if len(decode(ids[: j + 1])) > offset:
            return j
    return None


def _select_views(feats, per_view, sel: list[int], out_cls):
    """The encoder output restricted and reordered to the views of a batch's rows (one per row).

    ``pooler_output`` (a per-image tuple) is selected; other per-image structures (lists of
    per-image tuples, e.g. Qwen3-VL's deepstack features) likewise; concatenated tensors dropped.
    """
    n = len(per_view)

    def pick(v):
        if isinstance(v, (list, tuple)) and len(v) == n and all(hasattr(x, "shape") for x in v):
            return [v[i] for i in sel]
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, (list, tuple)) for x in v):
            return [pick(x) for x in v]
        return None

    out = copy.copy(feats)
    for key in list(out.keys()):
        if key == "pooler_output":
            continue
        picked = pick(out[key])
        out[key] = picked
    out["pooler_output"] = [per_view[i] for i in sel]
    return out
