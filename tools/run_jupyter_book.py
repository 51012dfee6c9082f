"""jupyter-book's command line, as `jupyter-book ...`, about 1.6 s faster to start.

    .venv/bin/python tools/run_jupyter_book.py build . --path-output . ...

jupyter-book validates book/_config.yml with jsonschema. On import, jsonschema compiles a
grammar for its URI/IRI format checks with rfc3987-syntax when that package is installed
(jupyter-events' dependencies install it): 1.6 s of every build, for format checks that
jupyter-book's schema never asks for (it has no "format" and uses no FormatChecker). Blocked
here, jsonschema leaves those checks out, as it does where the package is not installed;
tools/execute_notebooks.py does the same. Everything else is jupyter-book's own `main`.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)

from jupyter_book.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
