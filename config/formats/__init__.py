"""The project's number and date formats per language (settings.FORMAT_MODULE_PATH).

Django's own formats fill in whatever a module here leaves out. Two rules hold in
every language: amounts and counts are grouped by thousands with a comma
(¥1,882,265,300.00), and the first DATE_INPUT_FORMATS entry is ISO "%Y-%m-%d",
the one value an `<input type="date">` accepts (a DateInput renders with it).
"""
