"""Hypothesis strategies of what an attacker or a broken server sends: the values neither database stores as is."""

from hypothesis import strategies as st

LONE_SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udc00b", "\ud83d"])
NULS = st.sampled_from(["\x00", "a\x00b", "\x00" * 10])
NON_FINITE = st.sampled_from([float("nan"), float("inf"), float("-inf")])
NON_ASCII_DIGITS = st.sampled_from(["²", "١٢", "٣", "𝟙", "¹⁰", "五", "1²", "９"])
# Digits too many for a 64-bit column, and ASCII ones in forms int() reads but a parser should not.
HOSTILE_INTEGERS = st.sampled_from([str(2**63), "9" * 40, "-1", " 1", "1_000", "+1", "0x10", "1e3"])

hostile_text = st.text(max_size=20) | LONE_SURROGATES | NULS | NON_ASCII_DIGITS
scalars = st.none() | st.booleans() | st.integers() | st.floats() | NON_FINITE | hostile_text


def deep(depth: int, leaf=None):
    """JSON nested `depth` levels, alternating lists and objects."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


DEEP = st.sampled_from([deep(101), deep(1001), deep(3000)])
# Shallow enough for json.dumps: what a client can send as a JSON body.
hostile_json = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3),
    max_leaves=8,
)
hostile_values = hostile_json | DEEP


def deep_json_text(depth: int) -> str:
    return "[" * depth + "]" * depth


# Whole bodies as raw text: JSON nested past any parser's recursion, and the constants Python's json reads.
HOSTILE_BODIES = st.sampled_from(
    [deep_json_text(150), deep_json_text(100_000), '{"a": NaN}', '{"a": -Infinity}', '{"a": 1e999}', '{"\\ud800": 1}']
)
