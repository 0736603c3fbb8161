"""Simplified Chinese: amounts grouped by thousands with a comma (1,882,265,300.00),
as Chinese finance writes them (Django's zh_Hans groups by 4 with no separator), and
ISO dates first for inputs (Django's "%Y/%m/%d" makes a date input show blank)."""

DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
# The first entry renders an <input type="date">'s value; the others are accepted.
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日"]
