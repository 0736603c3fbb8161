"""Masking of personal data for display. Pure functions."""


def mask_name(name: str) -> str:
    """Keep the family name (first character): 张** / J*** ."""
    name = name.strip()
    if not name:
        return ""
    if " " in name:  # Latin-script names: keep the initial of each part
        return " ".join(part[0] + "*" * (len(part) - 1) for part in name.split())
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str) -> str:
    """138****5678: the carrier prefix and the last four digits stay."""
    digits = phone.strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_national_id(national_id: str) -> str:
    """1101**********123X: region prefix and last four characters stay."""
    value = national_id.strip()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]
