"""What a newcomer reads: every option's default and format in --help, argparse's errors in one
line naming the option and what it takes, seed ranges that say A ≤ B."""

import argparse
import re

import pytest

from lowrankgan.cli import build_parser, main

COMMANDS = ["models", "sample", "directions", "edit", "invert", "evaluate", "serve"]


def subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_every_default_and_no_float_ranges(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "e+0" not in text  # integer ranges as integers, not 2.14748e+09
    for action in subparsers()[command]._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        flag = action.option_strings[-1]
        assert action.help, f"{command} {flag} has no help"
        if action.default not in (None, False):
            shown = str(action.default).lower()
            assert f"default: {shown}" in text.lower() or "default" in action.help.lower(), f"{command} {flag}"


def test_seed_format_and_integer_ranges_are_spelled_out(capsys):
    with pytest.raises(SystemExit):
        main(["directions", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "seeds: N, A-B (A ≤ B) or a comma list such as 1,5,9" in text
    assert "--random-seed INT [random] random seed (default 0, 0..9223372036854775807)" in text


def test_missing_options_are_one_line_naming_what_they_take(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["directions", "--seed", "3"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("lowrankgan: error: --region is required: box:TOP,LEFT,HEIGHT,WIDTH")
    assert "--out is required: output folder" in err and err.endswith("; see lowrankgan directions --help")


def test_a_reversed_seed_range_says_a_must_not_exceed_b(capsys, tmp_path):
    code = main(["sample", "--seeds", "5-1", "--out", str(tmp_path / "g.png")])
    err = capsys.readouterr().err
    assert code == 2 and "in a range A-B, A must be at most B (write 1-5)" in err


def test_fewer_directions_than_asked_says_why(capsys, tmp_path):
    code = main(["directions", "--seed", "3", "--region", "box:28,24,6,16", "--top-k", "100", "--analysis-size", "32",
                 "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 0 and "fewer than the 100 asked for: " in err


def test_a_path_edit_prints_a_line_per_step_with_its_cost(capsys, tmp_path):
    assert main(["directions", "--seed", "3", "--region", "mouth", "--top-k", "2", "--analysis-size", "32",
                 "--out", str(tmp_path / "d")]) == 0
    capsys.readouterr()
    code = main(["edit", "--directions", str(tmp_path / "d"), "--seeds", "3", "--strengths", "-2,0,2", "--path-steps", "2",
                 "--path-follow", "rederive", "--out", str(tmp_path / "p.png")])
    out, err = capsys.readouterr()
    steps = [line for line in err.splitlines() if line.startswith("path step ")]
    assert code == 0 and [s.split(":")[0] for s in steps] == [f"path step {i}/4" for i in range(1, 5)]
    assert all(s.endswith(" s") for s in steps)
    assert "(path following (rederive), 2 steps)" in out, out
    # The default local path says what it cost on its last line.
    code = main(["edit", "--directions", str(tmp_path / "d"), "--seeds", "3", "--strengths", "-2,0,2", "--path-steps", "2",
                 "--out", str(tmp_path / "q.png")])
    out = capsys.readouterr().out
    assert code == 0 and re.search(r"\(local path: \d+ Jacobians, [\d.]+ s\)", out), out
