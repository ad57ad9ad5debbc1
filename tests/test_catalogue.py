"""The whole catalogue of mistakes is in use and every lesson link lands on a heading.

Every misconception id is named by a twin or a symptom of some problem, or marked as one the
engine detects itself (`engine=True`) or as belonging to a chapter not written yet
(`pending=True`). Every link points at a heading of the named lesson notebook, as JupyterLab
anchors it: the heading's text with spaces replaced by '-'.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import nbformat
import pytest

from tutor import misconceptions, registry

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = list(misconceptions.CATALOGUE.values())
# The course's lessons (COURSE_SPEC section 4); a link may name one whose notebook is still being
# written, but never a lesson the course does not have.
LESSONS = ("00_start_here", "01_logits", "02_softmax", "03_stability", "04_log_softmax",
           "05_cross_entropy", "06_temperature", "06b_calibration", "07_attention_masking",
           "08_tiny_language_model", "09_softmax_at_scale")


def _named_in_registry() -> set[str]:
    named = set()
    for p in registry.problems():
        named |= {t.misconception for t in p.twins}
        named |= {s.misconception for s in p.symptoms}
    return named


@cache
def _anchors(lesson: str) -> set[str]:
    """The anchors of every Markdown heading of notebooks/<lesson>.ipynb."""
    nb = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4)
    anchors = set()
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if heading:
                text = re.sub(r"[`*]", "", heading[1])  # the rendered text: no code or emphasis
                anchors.add(text.replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("m", CATALOGUE, ids=[m.id for m in CATALOGUE])
def test_every_misconception_is_named_somewhere_or_marked(m):
    assert m.id in _named_in_registry() or m.engine or m.pending, (
        f"no twin or symptom names {m.id!r}: add one where learners make the mistake, or mark "
        "it engine=True or pending=True in tutor/misconceptions.py")


@pytest.mark.parametrize("m", CATALOGUE, ids=[m.id for m in CATALOGUE])
def test_every_link_lands_on_a_heading_of_its_lesson(m):
    assert m.lesson in LESSONS, f"{m.id}: {m.lesson!r} is not a lesson of the course"
    notebook = ROOT / "notebooks" / f"{m.lesson}.ipynb"
    if m.pending:
        pytest.skip(f"{m.id} belongs to a chapter not written yet")
    if not notebook.exists():
        pytest.skip(f"lesson {m.lesson} is not written yet")
    anchor = m.link.split("#", 1)[1]
    assert anchor in _anchors(m.lesson), (
        f"{m.id} links to #{anchor}, but {m.lesson} has no heading {m.section!r}")


def test_the_marks_are_the_few_they_should_be():
    """The engine names only writing into the input itself; `pending` stays for chapters whose
    twins are still to come."""
    assert [m.id for m in CATALOGUE if m.engine] == ["mutates_input"]
    assert all(m.lesson == "09_softmax_at_scale" for m in CATALOGUE if m.pending)


def test_a_link_is_the_heading_with_spaces_as_dashes():
    m = misconceptions.get("no_max_shift")
    assert m.link == f"../notebooks/{m.lesson}.ipynb#{m.section.replace(' ', '-')}"
