"""Sphinx configuration of the documentation site (built by ``make docs``).

The Makefile stages this folder and the notebooks executed by ``make test`` (``build/executed``)
into ``build/docs-src`` and builds that copy with warnings as errors, so notebooks are executed
once and the working tree stays clean.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import toolkit  # noqa: E402

project = "therapy-breakthroughs"
author = "The therapy-breakthroughs developers"
copyright = "2026, The therapy-breakthroughs developers"
release = toolkit.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax shipped with the site: formulas render offline
    "numpydoc",
    "myst_nb",
    "gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "batch_placeholder.md"]
templates_path = ["_templates"]

# --- notebooks: executed once by `make test`, rendered here as they are -------------------
nb_execution_mode = "off"
nb_output_stderr = "show"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "substitution"]
myst_substitutions = {"release": release}
myst_heading_anchors = 3

# --- API reference from the docstrings -----------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Docstring style is checked by review and doctests, not by the site build.
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

# --- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"therapy-breakthroughs {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 3,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_static_path: list[str] = []
html_show_sourcelink = False
