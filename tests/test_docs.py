"""The documentation site's sources and the citation metadata (Sphinx itself runs in `make docs`).

Checks that the site's configuration and pages exist and link up, that the plot gallery has a
recipe for every plot function, that docs/CITATION.cff is valid Citation File Format 1.2.0
(required keys and their types, per the CFF 1.2.0 schema) and agrees with the package, and
that the changelog starts at 0.1.0 and covers the current version.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

import toolkit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _gallery():
    spec = importlib.util.spec_from_file_location("docs_gallery", DOCS / "_ext" / "gallery.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sphinx_configuration_and_make_target_exist():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    for extension in ("numpydoc", "myst_nb", "sphinx.ext.autosummary", "gallery"):
        assert f'"{extension}"' in conf
    assert 'nb_execution_mode = "off"' in conf  # notebooks are executed once, by make test
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^docs:", makefile, re.M)
    assert "-W" in makefile and "build/executed" in makefile
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "notebooks-test" in test_recipe and "docs" in test_recipe


def test_every_page_in_a_toctree_exists():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    entries = re.findall(r"^([a-z_/]+)$", index, re.M)
    assert {"getting_started", "data", "api", "gallery", "validation", "changelog"} <= set(entries)
    for entry in entries:
        if entry == "gallery":  # written at build time by docs/_ext/gallery.py
            continue
        assert any((DOCS / f"{entry}{suffix}").exists() for suffix in (".md", ".rst")), entry


def test_notebooks_page_lists_every_notebook():
    page = (DOCS / "notebooks.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^notebooks/(\S+)$", page, re.M))
    assert listed == {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_api_reference_lists_every_public_module():
    page = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   ([a-z_]+)$", page, re.M))
    public = {m for m in toolkit._SUBMODULES if m != "report"}  # the report is a command
    assert public <= listed and listed - public <= {"files"}


def test_gallery_has_a_recipe_for_every_plot_function():
    gallery = _gallery()
    assert gallery.missing_recipes() == []
    assert set(gallery.RECIPES) == set(gallery.plot_functions())
    for name, (_, code) in gallery.RECIPES.items():
        assert f"plots.{name}(" in code, name  # the recipe draws with the function it shows


# --- CITATION.cff ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def citation():
    return yaml.safe_load((DOCS / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_is_valid_cff_1_2_0(citation):
    # The schema's required keys and types (CFF 1.2.0: cff-version, message, title, authors).
    assert citation["cff-version"] == "1.2.0"
    assert isinstance(citation["message"], str) and citation["message"]
    assert isinstance(citation["title"], str) and citation["title"]
    assert isinstance(citation["authors"], list) and citation["authors"]
    for author in citation["authors"]:
        # a person has family-names / given-names, an entity a name
        assert ({"family-names", "given-names"} <= set(author)) or "name" in author
    known = {
        "abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi",
        "identifiers", "keywords", "license", "license-url", "message", "preferred-citation",
        "references", "repository", "repository-artifact", "repository-code", "title", "type",
        "url", "version",
    }  # fmt: skip
    assert set(citation) <= known
    assert citation.get("type", "software") in {"software", "dataset"}
    assert all(isinstance(k, str) for k in citation.get("keywords", []))


def test_citation_agrees_with_the_package(citation):
    assert citation["title"].startswith("therapy-breakthroughs")
    assert str(citation["version"]) == toolkit.__version__
    assert citation["license"] == "BSD-3-Clause"
    from toolkit._references import TOOLKIT_AUTHOR, toolkit_reference

    assert citation["authors"] == [{"name": TOOLKIT_AUTHOR}]
    assert f"(Version {toolkit.__version__})" in toolkit_reference()


def test_changelog_starts_at_0_1_0_and_covers_this_version():
    log = (DOCS / "changelog.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## (\d+\.\d+\.\d+)", log, re.M)
    assert versions[-1] == "0.1.0"
    assert versions[0] == toolkit.__version__


def test_readme_links_the_documentation_citation_and_changelog():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/CITATION.cff" in readme and "docs/changelog.md" in readme
    assert "make docs" in readme
