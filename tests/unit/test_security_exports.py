"""Spreadsheet cells never run as formulas and never break the XML (issue 13,
OWASP CSV injection). Pure functions."""
from kernel.exports import safe_cell


def test_formula_triggers_are_neutralised():
    # rule: APP-8
    for text in ("=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)",
                 "\t=1", "\r=1"):
        out = safe_cell(text)
        assert out.startswith("'") and out[1:] == text, text
    for text in ("营业执照", "a=b", "12", ""):
        assert safe_cell(text) == text
    for value in (-5, 3.5, None, True):  # numbers are numbers, not text to guard
        assert safe_cell(value) == value


def test_characters_xml_cannot_hold_are_dropped():
    # rule: APP-8
    assert safe_cell("a\x00b\x01c\x0bd\x1fe\ufffef") == "abcdef"
    assert safe_cell("line1\nline2\ttab") == "line1\nline2\ttab"
    assert safe_cell("\x00=1") == "'=1"  # stripped first, then guarded
