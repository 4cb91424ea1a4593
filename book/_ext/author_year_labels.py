"""Sphinx extension for the srewire book: bibliography labels in the text's author-year form.

The prose cites author-year (``bibtex_reference_style: author_year``: "Seidel (2022)",
"(Özdenizci and Legenstein, 2021)"), but pybtex's bibliography styles label entries
"[Sei22]" or "[1]". This registers the pybtex style ``author_year``: the ``plain`` style
(entries sorted by author, year and title) with labels written as the parenthetical
citations are, "Seidel, 2022", "Özdenizci and Legenstein, 2021", "Zhang et al., 2019";
equal labels get a, b, ... as in pybtex's ``alpha``. ``_config.yml`` selects it with
``bibtex_default_style: author_year``.
"""

from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person) -> str:
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


def author_year_label(entry) -> str:
    """"Surname, year", "A and B, year" or "A et al., year" for one bibliography entry."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    if not people:
        names = entry.fields.get("key", entry.key)
    elif len(people) == 1:
        names = _surname(people[0])
    elif len(people) == 2:
        names = f"{_surname(people[0])} and {_surname(people[1])}"
    else:
        names = f"{_surname(people[0])} et al."
    year = entry.fields.get("year")
    return f"{names}, {year}" if year else names


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels as the author-year parenthetical citations read, made unique by a, b, ..."""

    def format_labels(self, sorted_entries):
        labels = [author_year_label(entry) for entry in sorted_entries]
        total, seen = Counter(labels), Counter()
        for label in labels:
            if total[label] == 1:
                yield label
            else:
                yield label + chr(ord("a") + seen[label])
                seen[label] += 1


class AuthorYearStyle(PlainStyle):
    """pybtex's ``plain`` entries, labelled author-year."""

    default_label_style = AuthorYearLabelStyle


def setup(app):
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
