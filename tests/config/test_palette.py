"""The chart colours stay apart for colour-blind readers.

Each palette is run through the Machado, Oliveira & Fernandes (2009) simulation of
protanopia, deuteranopia and tritanopia (severity 1, on linear RGB) and every pair
of a chart's series must stay at least MIN_DELTA_E apart (CIEDE2000) — as they must
for people with full colour vision."""

from __future__ import annotations

import itertools
import math

import pytest

from config import charts

MACHADO_2009 = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
}
VISION = ("typical", *MACHADO_2009)
# CIEDE2000: about 2 is a just-noticeable difference; 10 tells series apart at a glance.
MIN_DELTA_E = 10.0

Linear = tuple[float, float, float]


def linear_rgb(hex_colour: str) -> Linear:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    digits = hex_colour.lstrip("#")
    r, g, b = (channel(int(digits[i : i + 2], 16)) for i in (0, 2, 4))
    return (r, g, b)


def seen_as(colour: Linear, vision: str) -> Linear:
    if vision == "typical":
        return colour
    m = MACHADO_2009[vision]
    r, g, b = (min(1.0, max(0.0, sum(m[row][k] * colour[k] for k in range(3)))) for row in range(3))
    return (r, g, b)


def lab(colour: Linear) -> tuple[float, float, float]:
    r, g, b = colour
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def delta_e_2000(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    l1, a1, b1 = first
    l2, a2, b2 = second
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar**7 / (c_bar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360
    h2p = math.degrees(math.atan2(b2, a2p)) % 360
    if c1p * c2p == 0:
        dhp = 0.0
    elif abs(h2p - h1p) <= 180:
        dhp = h2p - h1p
    else:
        dhp = h2p - h1p - 360 if h2p > h1p else h2p - h1p + 360
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dhp / 2))
    l_bar, cp_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(h_bar - 30))
        + 0.24 * math.cos(math.radians(2 * h_bar))
        + 0.32 * math.cos(math.radians(3 * h_bar + 6))
        - 0.20 * math.cos(math.radians(4 * h_bar - 63))
    )
    d_theta = 30 * math.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(cp_bar**7 / (cp_bar**7 + 25**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -math.sin(math.radians(2 * d_theta)) * r_c
    return math.sqrt(
        (d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h)
    )


def too_close(palette: dict[str, str]) -> list[str]:
    """Pairs of series a reader with the given vision could mix up, in words."""
    found = []
    for vision in VISION:
        for (name1, hex1), (name2, hex2) in itertools.combinations(palette.items(), 2):
            distance = delta_e_2000(
                lab(seen_as(linear_rgb(hex1), vision)), lab(seen_as(linear_rgb(hex2), vision))
            )
            if distance < MIN_DELTA_E:
                found.append(f"{name1} {hex1} / {name2} {hex2}: ΔE {distance:.1f} ({vision})")
    return found


CHART_PALETTES = {
    # One stacked bar per day holds every action at once.
    "limit changes per day": charts.ACTION_COLOURS,
    "simulated impact": {
        "active cut": charts.IMPACT_COLOURS[0][0],
        "active raised": charts.IMPACT_COLOURS[0][1],
        "simulated cut": charts.IMPACT_COLOURS[1][0],
        "simulated raised": charts.IMPACT_COLOURS[1][1],
    },
    "score and limit": {"limit": charts.LIMIT_COLOUR, "score": charts.SCORE_COLOUR},
    "notice timeliness": charts.NOTICE_COLOURS,
}


@pytest.mark.parametrize("chart", sorted(CHART_PALETTES))
def test_every_series_of_a_chart_stays_distinguishable_with_colour_blindness(chart):
    assert too_close(CHART_PALETTES[chart]) == []


def test_frozen_unfrozen_and_restored_are_told_apart():
    series = {action: charts.ACTION_COLOURS[action] for action in ("freeze", "unfreeze", "restore")}
    assert too_close(series) == []


def test_the_check_catches_colours_only_typical_vision_tells_apart():
    # The former restore and unfreeze colours: a mid blue and a lilac merge for
    # deuteranopes; a red and a green for deuteranopes; a sky blue and a sea green
    # for tritanopes.
    assert any("deuteranopia" in pair for pair in too_close({"a": "#5a8fc2", "b": "#8c7fb8"}))
    assert any("deuteranopia" in pair for pair in too_close({"red": "#d62728", "green": "#2ca02c"}))
    assert any("tritanopia" in pair for pair in too_close({"sky": "#3b9dd4", "sea": "#2bb673"}))
    assert too_close({"white": "#ffffff", "black": "#000000"}) == []


def test_the_colour_science_matches_published_values():
    # Sharma, Wu & Dalal (2005), CIEDE2000 test data, pair 1.
    assert delta_e_2000((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485)) == pytest.approx(
        2.0425, abs=1e-4
    )
    assert lab(linear_rgb("#ffffff")) == pytest.approx((100.0, 0.0, 0.0), abs=0.01)
