import pytest

from appeals import states


def test_the_happy_path_and_the_pause_for_information():
    state = states.NEW
    for move, expected in [
        ("claim", states.IN_REVIEW),
        ("request_info", states.WAITING),
        ("customer_replied", states.IN_REVIEW),
        ("decide", states.DECIDED),
        ("close", states.CLOSED),
    ]:
        state = states.next_state(state, move)
        assert state == expected


@pytest.mark.parametrize("state", states.OPEN)
def test_an_open_appeal_can_be_withdrawn(state):
    assert states.next_state(state, "withdraw") == states.WITHDRAWN


@pytest.mark.parametrize(
    ("state", "move"),
    [
        (states.NEW, "decide"),  # nobody has looked at it
        (states.WAITING, "decide"),  # the customer has not answered
        (states.DECIDED, "withdraw"),
        (states.CLOSED, "claim"),
        (states.WITHDRAWN, "customer_replied"),
        (states.IN_REVIEW, "close"),
    ],
)
def test_illegal_moves_are_refused_with_what_is_allowed(state, move):
    with pytest.raises(states.IllegalMove) as error:
        states.next_state(state, move)
    message = str(error.value)
    assert f"cannot {move.replace('_', ' ')}" in message
    if states.allowed_moves(state):
        assert "it can:" in message
    else:
        assert "it is finished" in message


def test_every_state_but_the_finished_ones_has_a_way_out():
    for state in (*states.OPEN, states.DECIDED):
        assert states.allowed_moves(state)
    assert states.allowed_moves(states.CLOSED) == states.allowed_moves(states.WITHDRAWN) == []
