"""The pure parts of policy administration: the diff and the simulation sums."""

import scoring
from policies import impact


def test_the_diff_names_each_changed_threshold_and_band():
    before = scoring.DEFAULT_POLICY
    bands = [dict(band) for band in before["bands"]]
    bands[3]["ceiling"] = "7000"
    after = {**before, "multi_lending_applications_30d": 5, "bands": bands[:4]}
    changes = impact.rules_diff(before, after)
    assert ("multi_lending_applications_30d", 10, 5) in changes
    assert ("bands.D.ceiling", "9000", "7000") in changes
    assert ("bands.E.min_score", 350, None) in changes  # a band removed shows as missing
    assert impact.rules_diff(before, before) == []


def test_summaries_add_up_and_keep_the_largest_moves():
    first = {
        "accounts": 3,
        "counts": {"A": {"keep": 2}, "E": {"reduce": 1}},
        "exposure_before": 100,
        "exposure_after": 80,
        "reasons": {"MULTI_LENDING": 1},
        "movers": [[1, 5000, 3000, "reduce"]],
    }
    second = {
        "accounts": 2,
        "counts": {"E": {"reduce": 1, "close": 1}},
        "exposure_before": 50,
        "exposure_after": 0,
        "reasons": {"MULTI_LENDING": 1},
        "movers": [[7, 9000, 0, "close"]],
    }
    total = impact.merge_summaries([first, second])
    assert total["accounts"] == 5 and total["exposure_after"] == 80
    assert total["counts"]["E"] == {"reduce": 2, "close": 1}
    assert total["reasons"] == {"MULTI_LENDING": 2}
    assert [mover[0] for mover in total["movers"]] == [7, 1]
    assert impact.action_totals(total) == {"up": 0, "down": 2, "closed": 1, "unchanged": 2}
    assert impact.band_rows(total, ["A", "E"])[1] == {
        "band": "E",
        "up": 0,
        "down": 2,
        "closed": 1,
        "unchanged": 0,
    }
