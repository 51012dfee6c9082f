"""Keep the modules of autodoc_mock_imports mocked for the whole build, with source links.

book/_config.yml mocks ``aeutil._keras`` (autodoc_mock_imports), so that documenting
``aeutil.model`` does not load TensorFlow. Two things undo that, and this extension handles both:

- autodoc mocks the modules only while it imports the documented module. Afterwards, to find
  overloaded signatures, it imports the module of every class in a documented class's MRO, the
  mocked Keras base classes included (``aeutil._keras.keras.layers``): the real ``aeutil._keras``,
  and with it TensorFlow (2.3 s of each build). The same mock therefore stays on from
  ``builder-inited`` to ``build-finished``. Nothing in the build process needs the real module:
  the notebooks run in their own kernels.
- Under the mock, a class decorated with ``@keras.saving.register_keras_serializable(...)`` is
  stored in its module as a mock that wraps the class; autodoc unwraps it, but
  sphinx.ext.viewcode asks the wrapper for its ``__module__`` and gets the mock's, so the class
  would lose its [ソース] link. ``_module_of`` unwraps it the same way for viewcode.
"""

from __future__ import annotations

import importlib
import sys

from sphinx.application import Sphinx
from sphinx.ext.autodoc.mock import MockFinder, ismock, undecorate

_finder: MockFinder | None = None


def _mock_on(app: Sphinx) -> None:
    global _finder
    if app.config.autodoc_mock_imports and _finder is None:
        _finder = MockFinder(list(app.config.autodoc_mock_imports))
        sys.meta_path.insert(0, _finder)


def _mock_off(app: Sphinx, exception: Exception | None) -> None:
    global _finder
    if _finder is not None:
        sys.meta_path.remove(_finder)
        _finder.invalidate_caches()  # the mocked modules leave sys.modules
        _finder = None


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
    app.connect("builder-inited", _mock_on)
    app.connect("build-finished", _mock_off)
    app.connect("viewcode-follow-imported", _module_of)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
