"""Shared by tests/ and benchmarks/: the suite never touches the user's rule cache (~/.cache)."""

import os
import shutil
import tempfile

_cache_dir = None


def pytest_configure(config):
    global _cache_dir
    if "LOGICDSL_CACHE_DIR" not in os.environ:
        _cache_dir = tempfile.mkdtemp(prefix="logicdsl-test-cache-")
        os.environ["LOGICDSL_CACHE_DIR"] = os.path.join(_cache_dir, "rules")


def pytest_unconfigure(config):
    if _cache_dir is not None:
        shutil.rmtree(_cache_dir, ignore_errors=True)
        os.environ.pop("LOGICDSL_CACHE_DIR", None)
