"""A fresh, empty Delta store for tests: a new root directory under the test's work directory.

The plugin declares :func:`fresh_store_url` as its test backend ``delta``
(:func:`metaxy.hookspecs.metaxy_test_backends`), so metaxy's shared fixtures (``store_url``,
``all_store_urls``, :func:`metaxy.testing.backends.backend_database`) and the conformance suite
run on it. Only the local file system is tested; object stores (S3, GCS, Azure) go through the
same delta-rs code with ``storage_options``. deltalake is imported only to check it is installed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from metaxy.errors import BackendUnavailableError


@contextmanager
def fresh_store_url(workdir: Path, *, prefix: str = "mx_test_") -> Iterator[str]:
    """``delta:////<workdir>/<prefix><random>`` (an absolute root, created on first write).

    Raises:
        BackendUnavailableError: deltalake is not installed.
    """
    import importlib.util

    if importlib.util.find_spec("deltalake") is None:
        raise BackendUnavailableError("deltalake is not installed (pip install metaxy-delta)")
    root = Path(workdir).resolve() / f"{prefix}{uuid.uuid4().hex[:6]}.delta"
    yield f"delta:///{root.as_posix()}"
