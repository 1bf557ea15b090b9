"""The rule cache: a second load of an unchanged rule file skips the front end (and lark)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import logicdsl
from logicdsl import frontend, rule_cache
from logicdsl.diagnostics import DiagnosticError

RULES = """product p
object a "a thing"
let n = count(a)
rule one_a [quantity]: n == 1
rule few_a: n <= 3
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("LOGICDSL_CACHE_DIR", str(d))
    monkeypatch.delenv("LOGICDSL_NO_CACHE", raising=False)
    return d


@pytest.fixture
def rules_file(tmp_path):
    p = tmp_path / "p.logic"
    p.write_text(RULES)
    return p


def _forbid_front_end(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the front end ran on a cache hit")
    monkeypatch.setattr(frontend, "check_source", boom)


def test_second_load_is_a_hit_with_the_same_graph(cache, rules_file, monkeypatch):
    first = logicdsl.load(rules_file)
    assert len(list(cache.glob("*.pickle"))) == 1
    _forbid_front_end(monkeypatch)
    second = logicdsl.load(rules_file)
    assert second.names == first.names == ["one_a", "few_a"]
    assert second.path == rules_file
    assert second.graph.leaves() == first.graph.leaves()
    root = second.graph.rules[0].root
    assert "_h" not in root.__dict__  # hashes are per process: never carried in the pickle
    assert hash(root) == hash(first.graph.rules[0].root)


def test_changed_file_is_a_miss(cache, rules_file):
    logicdsl.load(rules_file)
    rules_file.write_text(RULES + "rule no_more: n <= 5\n")
    assert logicdsl.load(rules_file).names == ["one_a", "few_a", "no_more"]
    assert len(list(cache.glob("*.pickle"))) == 2


def test_files_with_errors_are_never_cached(cache, tmp_path):
    bad = tmp_path / "bad.logic"
    bad.write_text("product p\nrule r: count(ghost) == 1\n")
    for _ in range(2):
        with pytest.raises(DiagnosticError):
            logicdsl.load(bad)
    assert not cache.exists() or not list(cache.glob("*.pickle"))


def test_disabled_by_environment_or_argument(cache, rules_file, monkeypatch):
    logicdsl.load(rules_file, cache=False)
    assert not cache.exists()
    monkeypatch.setenv("LOGICDSL_NO_CACHE", "1")
    logicdsl.load(rules_file)
    assert not cache.exists()


def test_corrupt_entry_is_a_miss(cache, rules_file):
    logicdsl.load(rules_file)
    (entry,) = cache.glob("*.pickle")
    entry.write_bytes(b"not a pickle")
    assert logicdsl.load(rules_file).names == ["one_a", "few_a"]


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_a_directory_others_can_write_is_not_trusted(cache, rules_file, monkeypatch):
    logicdsl.load(rules_file)
    os.chmod(cache, 0o777)
    try:
        assert rule_cache.get(rules_file, rules_file.read_bytes()) is None
        _forbid_front_end(monkeypatch)
        with pytest.raises(AssertionError, match="front end ran"):
            logicdsl.load(rules_file)
    finally:
        os.chmod(cache, 0o700)


def test_check_on_a_hit_never_imports_lark(cache, rules_file, tmp_path):
    from PIL import Image

    img = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(img)
    img.with_suffix(".json").write_text('{"width": 8, "height": 8, "objects": [{"label": "a", "box": [1, 1, 3, 3]}]}')
    probe = ("import sys; from logicdsl.cli import main; "
             f"rc = main(['check', {str(img)!r}, {str(rules_file)!r}, '--backend', 'scene', '--format', 'json']); "
             "print('LARK' if 'lark' in sys.modules else 'NO-LARK', rc)")
    env = {**os.environ, "LOGICDSL_CACHE_DIR": str(cache)}
    outs = [subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
            for _ in range(2)]
    assert outs[0].stdout.split()[-2:] == ["LARK", "0"], outs[0].stderr
    assert outs[1].stdout.split()[-2:] == ["NO-LARK", "0"], outs[1].stderr
    assert Path(cache).is_dir()
