from tests.notices.receivers import receiver  # noqa: F401 (a fixture)
