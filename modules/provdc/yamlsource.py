"""Load YAML while remembering the line of every value, so errors can name it.

Files come from others, so loading is bounded: a file larger than MAX_BYTES, nested deeper
than MAX_DEPTH, or whose aliases expand to more than MAX_NODES nodes (a "billion laughs"
bomb: 322 bytes can stand for gigabytes) is refused before it is used, as is a path that is
a directory, an unreadable file, or a value YAML cannot construct (an impossible date).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from provdc.errors import ProvdcError, ValidationFailed

M = TypeVar("M", bound=BaseModel)

Path_ = tuple[str | int, ...]

MAX_BYTES = 64 * 1024 * 1024  # a 10,000-site province is a few megabytes
MAX_DEPTH = 64  # a topology is 4-5 levels deep
MAX_NODES = 2_000_000  # nodes after alias expansion (the 10,000-site province: ~400,000)


# libyaml's C parser when the wheel has it: 20x faster on 10,000-site provinces.
_SafeBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeBase):
    """A SafeLoader that rejects duplicate keys (YAML silently keeps the last one)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        # keys here are plain scalars; comparing their text avoids constructing them twice
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (first at line {seen[key]})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _construct_timestamp(loader: _LineLoader, node: yaml.ScalarNode):
    """A date YAML recognises but the calendar does not (2027-02-30) is the file's error,
    with its line, not a ValueError."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"'{node.value}' is not a valid date ({exc})", node.start_mark) from None


_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _flow_depth(text: str) -> int:
    """How deep `[`/`{` nest (an upper bound: brackets inside strings count too). The
    parser itself recurses per level, so this is checked before it runs."""
    depth = deepest = 0
    for c in text:
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
    return deepest


def _check_size(node: yaml.Node | None, path: str) -> None:
    """Refuse a tree deeper than MAX_DEPTH or larger than MAX_NODES once aliases expand
    (each alias is a reference to the same node, so the walk counts the expansion)."""
    count = 0
    stack: list[tuple[yaml.Node, int]] = [(node, 1)] if node is not None else []
    while stack:
        current, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ProvdcError(f"the document expands to more than {MAX_NODES:,} values "
                              "(YAML aliases repeated inside each other)", path,
                              line=current.start_mark.line + 1,
                              fix="write the data out instead of nesting aliases (&, *)")
        if depth > MAX_DEPTH:
            raise ProvdcError(f"the document is nested more than {MAX_DEPTH} levels deep",
                              path, line=current.start_mark.line + 1,
                              fix="flatten the structure; provdc files are a few levels deep")
        if isinstance(current, yaml.MappingNode):
            stack += [(n, depth + 1) for pair in current.value for n in pair]
        elif isinstance(current, yaml.SequenceNode):
            stack += [(n, depth + 1) for n in current.value]


def _index_lines(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), out)
            # a value's own line is where the key is; keep the key line for scalars
            if isinstance(value_node, yaml.ScalarNode):
                out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), out)


def read_text(path: str | Path, what: str = "file") -> str:
    """A text file the user named: UTF-8, at most MAX_BYTES; a directory, a missing or an
    unreadable file is one paragraph, never a traceback."""
    p = Path(path)
    fix = "check the path, e.g. inventory/soctrang/topology.yml"
    try:
        if p.is_dir():
            raise ProvdcError(f"is a directory, not a {what}", str(path),
                              fix="give the file itself, not its folder")
        if p.exists() and p.stat().st_size > MAX_BYTES:
            raise ProvdcError(f"is larger than {MAX_BYTES // (1024 * 1024)} MiB", str(path),
                              fix=f"give the {what} itself (this is not one)")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ProvdcError("file not found", str(path), fix=fix) from None
    except PermissionError:
        raise ProvdcError("cannot be read (permission denied)", str(path),
                          fix="run as a user who may read it") from None
    except OSError as exc:
        raise ProvdcError(f"cannot be read ({exc.strerror})", str(path), fix=fix) from None
    if b"\0" in raw:
        raise ProvdcError(f"is a binary file, not a {what}", str(path), fix=fix)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProvdcError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", str(path),
                          fix="save the file as UTF-8 so Vietnamese names keep their "
                          "diacritics") from None


class YamlDocument:
    """A parsed YAML file with a line for each path (('sites', 12, 'parent') -> 340)."""

    def __init__(self, path: str | Path, text: str | None = None):
        self.path = str(path)
        self.text = read_text(path) if text is None else text
        if _flow_depth(self.text) > MAX_DEPTH:
            raise ProvdcError(f"the document is nested more than {MAX_DEPTH} levels deep",
                              self.path, fix="flatten the structure; provdc files are a few "
                              "levels deep")
        try:
            loader = _LineLoader(self.text)
            try:  # parse once: the node tree gives the lines, the same tree the data
                node = loader.get_single_node()
                self.data = loader.construct_document(node) if node is not None else None
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            # the context mark is where the broken construct starts (what the user wrote);
            # the problem mark is where the parser gave up, often the next line
            mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context", None)
            raise ProvdcError(
                f"not valid YAML: {problem}" + (f" ({context})" if context else ""),
                self.path,
                line=mark.line + 1 if mark else None,
                fix="correct the YAML syntax at that line (indentation, a missing colon or quote)",
            ) from None
        except RecursionError:
            raise ProvdcError(f"the document is nested more than {MAX_DEPTH} levels deep",
                              self.path, fix="flatten the structure") from None
        _check_size(node, self.path)
        self._node = node
        self._lines: dict[Path_, int] | None = None

    @property
    def lines(self) -> dict[Path_, int]:
        # built on first use: only an error needs a line, and big files parse faster without
        if self._lines is None:
            self._lines = {}
            if self._node is not None:
                _index_lines(self._node, (), self._lines)
        return self._lines

    def validate(self, model: type[M], fix: str) -> M:
        """The document as `model`; every problem pydantic finds is reported together, each
        with its line and field and this fix."""
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            raise ValidationFailed([
                ProvdcError(e["msg"], self.path, self.line_of(tuple(e["loc"])),
                            field_path(tuple(e["loc"])), fix)
                for e in exc.errors()
            ]) from None

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest known prefix of `path`."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None


def field_path(path: Path_) -> str:
    """('sites', 12, 'parent') -> 'sites[12].parent'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
