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


_ATTRS_DECORATORS = re.compile(r"^(attrs?\.)?(define|frozen|mutable|s|attrs)\b")


def _attrs_options(cls: griffe.Class) -> dict | None:
    """``{"kw_only": bool}`` when ``cls`` is decorated by attrs (``@attrs.define``, ``@attrs.frozen(...)``, ...)."""
    for decorator in cls.decorators:
        text = str(decorator.value)
        if _ATTRS_DECORATORS.match(text):
            return {"kw_only": "kw_only=True" in text.replace(" ", "")}
    return None


def _field_default(value: str | None) -> dict:
    """``{"has_default", "default", "init", "kw_only", "alias"}`` of an attrs field from the source of its right-hand
    side (``kw_only`` and ``alias`` are None unless the field sets them)."""
    import ast

    out = {"has_default": value is not None, "default": value, "init": True, "kw_only": None, "alias": None}
    if value is None:
        return out
    try:
        node = ast.parse(value, mode="eval").body
    except SyntaxError:
        return out
    if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in ("field", "ib", "attrib"):
        keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
        out.update(init=keywords.get("init", "True") != "False", has_default=False, default=None,
                   kw_only={"True": True, "False": False}.get(keywords.get("kw_only", "")),
                   alias=ast.literal_eval(keywords["alias"]) if "alias" in keywords else None)
        if "default" in keywords:
            factory = re.fullmatch(r"(?:attrs?\.)?Factory\((.+?)(?:,.*)?\)", keywords["default"])
            out.update(has_default=True, default=f"{factory[1]}()" if factory else keywords["default"])
        elif "factory" in keywords:
            out.update(has_default=True, default=f"{keywords['factory']}()")
    return out


class AttrsInit(griffe.Extension):
    """Give attrs classes the ``__init__`` signature attrs generates at run time (fields in order, with their
    defaults; inherited attrs fields first), so the API reference shows defaults instead of marking every documented
    field "required"."""

    def on_class_members(self, *, cls: griffe.Class, **kwargs) -> None:
        options = _attrs_options(cls)
        if options is None or "__init__" in cls.members:
            return
        fields: dict[str, griffe.Parameter] = {}  # a field redeclared in a subclass moves to the subclass's place
        for owner in [*reversed(_attrs_bases(cls)), cls]:
            for name, member in owner.members.items():
                if (member.is_alias or not member.is_attribute or name.startswith("__")
                        or member.annotation is None or "ClassVar" in str(member.annotation)
                        or "instance-attribute" not in member.labels):  # griffe drops ClassVar[...], keeps this
                    continue
                field = _field_default(None if member.value is None else str(member.value))
                fields.pop(name, None)
                if not field["init"]:
                    continue
                kw_only = options["kw_only"] if field["kw_only"] is None else field["kw_only"]
                kind = griffe.ParameterKind.keyword_only if kw_only else griffe.ParameterKind.positional_or_keyword
                fields[name] = griffe.Parameter(field["alias"] or name.lstrip("_"), annotation=member.annotation,
                                                kind=kind, default=field["default"] if field["has_default"] else None)
        positional = [p for p in fields.values() if p.kind is not griffe.ParameterKind.keyword_only]
        keyword = [p for p in fields.values() if p.kind is griffe.ParameterKind.keyword_only]
        params = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword), *positional, *keyword]
        cls.set_member("__init__", griffe.Function("__init__", parameters=griffe.Parameters(*params),
                                                   lineno=cls.lineno, endlineno=cls.lineno))


def _attrs_bases(cls: griffe.Class) -> list[griffe.Class]:
    """attrs classes among ``cls``'s bases that griffe can find (same module, or already loaded), nearest first."""
    found = []
    for expr in cls.bases:
        name = str(expr)
        base = cls.parent.members.get(name) if cls.parent is not None and "." not in name else None
        if base is None:
            try:
                base = cls.modules_collection[expr.canonical_path] if hasattr(expr, "canonical_path") else None
            except (KeyError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                base = None
        if isinstance(base, griffe.Alias):
            try:
                base = base.final_target
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
        if isinstance(base, griffe.Class) and _attrs_options(base) is not None:
            found.append(base)
            found.extend(_attrs_bases(base))
    return found
