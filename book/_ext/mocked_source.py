"""Source links for classes that autodoc read with Keras mocked.

book/_config.yml mocks ``aeutil._keras`` (autodoc_mock_imports), so that documenting
``aeutil.model`` does not load TensorFlow. Under the mock, a class decorated with
``@keras.saving.register_keras_serializable(...)`` is stored in its module as a mock that
wraps the class; autodoc unwraps it, but sphinx.ext.viewcode asks the wrapper for its
``__module__`` and gets the mock's, so the class would lose its [ソース] link. This handler
unwraps it the same way for viewcode.
"""

from __future__ import annotations

import importlib

from sphinx.application import Sphinx
from sphinx.ext.autodoc.mock import ismock, undecorate


def _module_of(app: Sphinx, modname: str | None, attribute: str) -> str | None:
    if modname is None:
        return None
    try:
        value = importlib.import_module(modname)
        for part in filter(None, attribute.split(".")):
            value = getattr(value, part)
    except Exception:  # viewcode's own lookup reports what it cannot follow
        return None
    if not ismock(value):
        return None  # not ours: viewcode's own lookup decides
    return getattr(undecorate(value), "__module__", None)


def setup(app: Sphinx) -> dict:
    app.connect("viewcode-follow-imported", _module_of)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
