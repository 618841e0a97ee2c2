"""YAML that people and programs hand us (cluster files, statuses, profiles), read within bounds.

``yaml.safe_load`` follows aliases: a few hundred bytes of nested ``*anchors`` make a graph that
any code walking it as a tree (validation, ``repr`` in an error message) takes seconds to hours
over. None of our documents needs an alias, so they are refused, as is a document too long or
nested too deeply to be one of ours (PyYAML composes nodes recursively: a few thousand ``[`` are a
``RecursionError``).
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_YAML_CHARS = 256 * 1024  # a ComputeCluster is ~2 kB, a generous profiles file ~20 kB
MAX_YAML_DEPTH = 64  # our documents nest fewer than 10 levels


class YamlInputError(yaml.MarkedYAMLError):
    """A document refused before it is built: too long, or with an alias."""


class _NoAliasLoader(yaml.SafeLoader):
    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise YamlInputError(problem="aliases (*name) are not allowed", problem_mark=mark)
        if self._depth >= MAX_YAML_DEPTH:
            mark = self.peek_event().start_mark
            problem = f"nested deeper than {MAX_YAML_DEPTH} levels"
            raise YamlInputError(problem=problem, problem_mark=mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str, max_chars: int = MAX_YAML_CHARS) -> Any:
    """``text`` as Python data, like ``yaml.safe_load``; a ``yaml.YAMLError`` (with ``problem``
    and, when it has one, ``problem_mark``) for bad YAML, an alias, or more than ``max_chars``."""
    if len(text) > max_chars:
        raise YamlInputError(problem=f"longer than {max_chars:,} characters ({len(text):,})")
    return yaml.load(text, Loader=_NoAliasLoader)


def yaml_error_reason(error: yaml.YAMLError) -> str:
    """What is wrong with a YAML text, and where: one wording for every file we read."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(error, "problem", None) or str(error)
    return f"not valid YAML: {problem}{where}"
