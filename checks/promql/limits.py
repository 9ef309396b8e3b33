"""How big an expression may be, measured on its text before the parser sees it.

The Rust parser recurses once per nesting level and per binary operator, and its time
grows with the square of the number of operators: 4000 terms of ``a+a+...`` take
seconds, 8000 crash the process (a stack overflow in native code, which no timeout
can catch), and 10000 nested parentheses do the same. So the text is measured first,
in one pass that skips string literals, and anything over these limits is a usage
error before parsing. The limits are far above real alerting rules: the longest
expressions of the etcd and Kubernetes mixins are under 2000 characters, nest under
10 deep and have under 20 operators.
"""

from __future__ import annotations

from healthprobes.checks.promql.errors import QueryError, Unsupported

MAX_LENGTH = 16384  # characters
MAX_NESTING = 64  # open (, [ and { at once
MAX_OPERATORS = 200  # binary and unary operators, and/or/unless/atan2 included
MAX_TREE_DEPTH = 160  # levels of the parsed tree the evaluator recurses through

_OPERATOR_CHARACTERS = frozenset("+-*/%^<>=!")
_OPERATOR_WORDS = frozenset(("and", "or", "unless", "atan2"))
_OPENING = "([{"
_CLOSING = ")]}"


def check_text(text: str) -> None:
    """QueryError if the expression text is longer, deeper or has more operators than
    the limits; string literals ('...', "...", `...`) are skipped, not counted. A
    negative @ time is refused here too: the parser cannot represent it."""
    if len(text) > MAX_LENGTH:
        raise QueryError(f"the expression is {len(text)} characters long; at most "
                         f"{MAX_LENGTH} are evaluated")
    depth = deepest = operators = 0
    index, length = 0, len(text)
    while index < length:
        character = text[index]
        if character in "\"'`":
            index = _after_string(text, index)
            continue
        if character == "#":  # a comment runs to the end of the line
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        if character in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        elif character in _CLOSING:
            depth -= 1
        elif character == "@":
            following = text[index + 1:index + 40].lstrip()
            if following.startswith("-"):
                # The parser's binding cannot hand over a time before 1970 (it
                # crashes reading one): refused before parsing.
                raise Unsupported("a negative @ time", "times before 1970 are not evaluated")
        elif character in _OPERATOR_CHARACTERS:
            operators += 1
            # Two-character operators (==, !=, <=, >=, =~, !~) count once.
            if index + 1 < length and text[index + 1] in "=~":
                index += 1
        elif character.isalpha():
            end = index
            while end < length and (text[end].isalnum() or text[end] == "_"):
                end += 1
            if text[index:end].lower() in _OPERATOR_WORDS:
                operators += 1
            index = end
            continue
        index += 1
    if deepest > MAX_NESTING:
        raise QueryError(f"the expression nests {deepest} levels deep (parentheses, "
                         f"brackets, braces); at most {MAX_NESTING} are evaluated")
    if operators > MAX_OPERATORS:
        raise QueryError(f"the expression has {operators} operators; at most "
                         f"{MAX_OPERATORS} are evaluated")


def _after_string(text: str, start: int) -> int:
    quote = text[start]
    index = start + 1
    while index < len(text):
        if text[index] == "\\" and quote != "`":
            index += 2
            continue
        if text[index] == quote:
            return index + 1
        index += 1
    return len(text)  # unterminated: the parser will say so


def check_tree(tree, children) -> None:
    """QueryError if the parsed tree is deeper than MAX_TREE_DEPTH; walked with a
    list, not recursion, so the measuring itself cannot overflow."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise QueryError(f"the expression is nested {depth}+ levels deep; at most "
                             f"{MAX_TREE_DEPTH} are evaluated")
        stack.extend((child, depth + 1) for child in children(node))
