"""A griffe extension for the docs build: render Sphinx roles in numpydoc docstrings as inline code.

tempo_kit's docstrings use numpydoc with Sphinx roles (``:class:`~tempo_kit.jumps.EulerJump```, ``:func:`f```), which
mkdocstrings shows verbatim. This rewrites ``:role:`~a.b.C``` to ```C```, ``:role:`a.b.C``` to ```a.b.C``` and
``:role:`text <target>``` to ```text```; an RST literal-block marker (a paragraph ending in ``::``) becomes ``:``,
since the indented block after it is already a Markdown code block. Loaded from mkdocs.yml (``extensions: [docs/griffe_rst_roles.py]``).
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|obj|data|exc|const|ref|term):`(?P<body>[^`]+)`")


def _replace(match: re.Match) -> str:
    body = match["body"].strip()
    titled = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", body)
    if titled:
        return f"`{titled['title']}`"
    if body.startswith("~"):
        return f"`{body[1:].rsplit('.', 1)[-1]}`"
    return f"`{body.lstrip('!')}`"


LITERAL = re.compile(r"(?<=\S)::(?=\n\s*\n)|^\s*::\s*$", re.M)


def convert(text: str) -> str:
    """The docstring text with every Sphinx role replaced by inline code and RST ``::`` markers by ``:``."""
    return LITERAL.sub(lambda m: ":" if m.group(0) == "::" else "", ROLE.sub(_replace, text))


class RSTRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
