"""Backend choice by name, and `auto`: the one rule for picking a backend the CLI and library share.

`auto` picks `vlm` when a model is given, `vision` when a station profile exists (given, or
`<product>.vision.toml` beside the rule file), `scene` when a scene file is there (given, or a
sidecar JSON beside the first image), and otherwise explains in one line how to choose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logicdsl.engine.backend import BackendError

BACKENDS = ("auto", "scene", "vision", "vlm", "openai")


def default_profile(rules_path: Path | None) -> Path | None:
    """`<rules stem>.vision.toml` beside the rule file, when it exists."""
    if rules_path is None:
        return None
    cand = Path(rules_path).with_name(Path(rules_path).stem + ".vision.toml")
    return cand if cand.exists() else None


def resolve_auto(*, rules_path: Path | None = None, model: str | None = None, base_url: str | None = None,
                 profile: str | Path | None = None, scene: str | Path | None = None, coco: str | Path | None = None,
                 first_image: Path | None = None) -> str:
    if base_url:
        return "openai"
    if model:
        return "vlm"
    if profile or default_profile(rules_path):
        return "vision"
    if scene or coco:
        return "scene"
    if first_image is not None and first_image.with_suffix(".json").exists():
        return "scene"
    hint = f" (no `{rules_path.stem}.vision.toml` beside the rules)" if rules_path else ""
    raise BackendError("cannot choose a backend" + hint + ": pass --profile FILE for the vision backend, "
                       "--scene FILE or sidecar JSON for the scene backend, or --model for a VLM")


def make_backend(name: str, *, rules_path: Path | None = None, model: str | None = None,
                 base_url: str | None = None, profile: str | Path | None = None, scene: str | Path | None = None,
                 coco: str | Path | None = None, first_image: Path | None = None, **options: Any):
    """Construct a backend by name; raises :class:`BackendError` (one line) when it cannot be built."""
    if name == "auto":
        name = resolve_auto(rules_path=rules_path, model=model, base_url=base_url, profile=profile, scene=scene,
                            coco=coco, first_image=first_image)
    if name == "scene":
        from logicdsl.engine.scene import SceneBackend

        return SceneBackend(scene, coco=coco)
    if name == "vision":
        from logicdsl.engine.vision import VisionBackend

        path = Path(profile) if profile else default_profile(rules_path)
        if path is None:
            raise BackendError("the vision backend needs a station profile: pass --profile FILE "
                               "or put `<product>.vision.toml` beside the rules")
        return VisionBackend(path)
    if name == "vlm":
        if not model:
            raise BackendError("the vlm backend needs --model PATH_OR_ID")
        from logicdsl.engine.vlm import VLMBackend

        return VLMBackend(model, **{k: v for k, v in options.items() if v is not None})
    if name == "openai":
        if not base_url or not model:
            raise BackendError("the openai backend needs --base-url URL and --model NAME")
        from logicdsl.engine.openai_backend import OpenAIBackend

        return OpenAIBackend(base_url, model, **{k: v for k, v in options.items() if v is not None})
    raise BackendError(f"unknown backend `{name}`; choose one of {', '.join(BACKENDS)}")
