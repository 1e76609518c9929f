"""The evaluate report, its table and JSON, and the CLI glue (through a parser built here)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from conftest_eval import eval_dir, eval_pair, write_pair  # noqa: F401  (fixtures)

from vsep_core.alignment import apply_alignment
from vsep_core.audio import Pair
from vsep_core.cli import build_parser, main
from vsep_core.errors import VsepError
from vsep_core.evaluate import evaluate_pair, format_table, load_pair
from vsep_core.jsonio import json_ready, write_json
from vsep_core.metrics import evaluate_estimate

SR = 22050


def _parser():
    return build_parser()


def _run(argv, capsys):
    code = main(["evaluate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    write_pair(folder, seconds=2.0, seed=2, names=("mixture", "vocal", "instrumental"))
    return folder


# --- the report -----------------------------------------------------------------------


def test_report_holds_alignment_and_every_metric(pair_files):
    pair = load_pair(pair_files / "mixture.wav", vocal=pair_files / "vocal.wav")
    report = evaluate_pair(pair, ["irm", "mixture"])
    assert report["alignment"]["lag_samples"] == 0 and report["alignment"]["aligned"]
    assert [m["name"] for m in report["methods"]] == ["irm", "mixture"]
    assert [m["kind"] for m in report["methods"]] == ["oracle", "blind"]
    # The figures are the metrics of the method's estimate against vocal and mixture − vocal.
    from vsep_core.baselines import get_method, run_method

    sep = run_method(get_method("irm"), pair.mixture, pair.sr, pair.vocal)
    # (mixture − vocal in float64, as score() takes it: bleedless/fullness see float32 rounding in the reference)
    expected = evaluate_estimate(
        pair.vocal, pair.mixture.astype(np.float64) - pair.vocal, sep.vocal, sep.instrumental, pair.sr
    )
    assert report["methods"][0]["vocal"] == pytest.approx(expected["vocal"])
    assert report["methods"][0]["instrumental"] == pytest.approx(expected["instrumental"])
    assert report["pair"]["mixture"].endswith("mixture.wav") and report["pair"]["target"] == "vocal"


def test_a_method_that_rejects_the_pair_is_reported_and_the_others_run():
    vocal = np.random.default_rng(0).standard_normal(2100).astype(np.float32) * 0.1
    instrumental = np.random.default_rng(1).standard_normal(2100).astype(np.float32) * 0.1
    pair = Pair(mixture=vocal + instrumental, vocal=vocal, sr=SR, info={})
    from vsep_core.baselines import RepetSim, get_method

    report = evaluate_pair(pair, [RepetSim(n_fft=2048, hop_length=1024), get_method("mixture")])
    failed, ok = report["methods"]
    assert "REPET-SIM" in failed["error"] and np.isnan(failed["vocal"]["sdr"])
    assert ok["error"] is None and np.isfinite(ok["vocal"]["si_sdr"])
    assert "failed:" in format_table(report)


def test_the_truth_must_be_at_its_true_scale(pair_files):
    truth = load_pair(pair_files / "mixture.wav", vocal=pair_files / "vocal.wav")
    assert truth.info["level"] == "as_is"
    normalised = Pair(mixture=truth.mixture, vocal=truth.vocal, sr=truth.sr, info={"level": "common"})
    with pytest.raises(VsepError, match="true scale"):
        evaluate_pair(normalised, ["mixture"])


def test_json_has_no_nan_and_keeps_the_schema(tmp_path):
    report = {
        "alignment": {"lag_samples": np.int64(3), "gain": np.float32(0.5), "correlation": float("nan")},
        "methods": [{"name": "x", "kind": "blind", "vocal": {"si_sdr": float("inf"), "sdr": 1.0}}],
    }
    path = write_json(report, tmp_path / "sub" / "r.json")
    loaded = json.loads(path.read_text())
    assert loaded == {
        "alignment": {"lag_samples": 3, "gain": 0.5, "correlation": None},
        "methods": [{"name": "x", "kind": "blind", "vocal": {"si_sdr": None, "sdr": 1.0}}],
    }
    assert json_ready(np.array([1.0, np.nan])) == [1.0, None]


def test_apply_alignment_repairs_a_shifted_vocal(tmp_path):
    from conftest_eval import make_sources

    vocal, instrumental = make_sources(2.0, SR, seed=3)
    vocal[:300] = 0.0  # the early file below loses its first 200 samples: make them silent
    mixture = vocal + instrumental
    sf.write(tmp_path / "mixture.wav", mixture, SR, subtype="FLOAT")
    sf.write(tmp_path / "vocal.wav", vocal, SR, subtype="FLOAT")
    sf.write(tmp_path / "vocal_early.wav", apply_alignment(vocal, -200, 2.0), SR, subtype="FLOAT")
    true_pair = load_pair(tmp_path / "mixture.wav", vocal=tmp_path / "vocal.wav")
    given = load_pair(tmp_path / "mixture.wav", vocal=tmp_path / "vocal_early.wav")
    reference = evaluate_pair(true_pair, ["irm"])
    as_given = evaluate_pair(given, ["irm"])
    repaired = evaluate_pair(given, ["irm"], align=True)
    assert not as_given["alignment"]["aligned"] and as_given["alignment"]["lag_samples"] == 200
    assert not as_given["alignment_applied"] and repaired["alignment_applied"]
    # After the repair the figures are the true pair's (the fitted gain is off by <i, v> / <v, v>, ~0.5 %).
    for source in ("vocal", "instrumental"):
        for metric in ("si_sdr", "sdr"):
            assert repaired["methods"][0][source][metric] == pytest.approx(
                reference["methods"][0][source][metric], abs=0.2
            )
    # An aligned pair is left as it is.
    assert not evaluate_pair(true_pair, ["mixture"], align=True)["alignment_applied"]


# --- the CLI ------------------------------------------------------------------------------


def test_cli_prints_a_table_and_writes_json(pair_files, tmp_path, capsys):
    out_json = tmp_path / "report.json"
    code, out, err = _run(
        [
            "--mixture",
            str(pair_files / "mixture.wav"),
            "--vocal",
            str(pair_files / "vocal.wav"),
            "--methods",
            "irm,ibm",
            "mixture",
            "--json",
            str(out_json),
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    for word in ("irm", "ibm", "mixture", "SI-SDR", "SDR", "SIR", "SAR", "Alignment"):
        assert word in out
    report = json.loads(out_json.read_text())
    assert set(report["alignment"]) >= {"lag_samples", "gain", "correlation", "verdict", "aligned"}
    assert [m["name"] for m in report["methods"]] == ["irm", "ibm", "mixture"]
    for m in report["methods"]:
        assert m["kind"] in ("seed", "oracle", "blind")
        for source in ("vocal", "instrumental"):
            assert set(m[source]) == {"si_sdr", "sdr", "sir", "sar", "usdr", "bleedless", "fullness"}


def test_cli_instrumental_mode_gives_the_same_figures(pair_files, capsys, tmp_path):
    args = ["--mixture", str(pair_files / "mixture.wav"), "--methods", "wiener", "--quiet"]
    _run([*args, "--vocal", str(pair_files / "vocal.wav"), "--json", str(tmp_path / "v.json")], capsys)
    code, _, err = _run(
        [*args, "--instrumental", str(pair_files / "instrumental.wav"), "--json", str(tmp_path / "i.json")], capsys
    )
    assert code == 0, err
    by_vocal = json.loads((tmp_path / "v.json").read_text())["methods"][0]
    by_instr = json.loads((tmp_path / "i.json").read_text())["methods"][0]
    by_instr_report = json.loads((tmp_path / "i.json").read_text())
    assert by_instr_report["pair"]["target"] == "instrumental"
    assert by_instr_report["alignment"]["verdict"].startswith("The instrumental is aligned")
    for source in ("vocal", "instrumental"):
        assert by_instr[source]["si_sdr"] == pytest.approx(by_vocal[source]["si_sdr"], abs=0.05)


@pytest.mark.parametrize(
    "case, message",
    [
        ("not_audio", "not audio"),
        ("missing", "does not exist"),
        ("unknown_method", "Unknown method"),
        ("length_mismatch", "longer than"),
        ("bad_json_path", "Cannot write the JSON report"),
        ("json_is_a_folder", "is a folder"),
        ("json_empty", "--json is empty"),
        ("vocal_is_mixture", "nothing to separate"),
    ],
)
def test_cli_bad_input_is_a_message_not_a_traceback(case, message, pair_files, tmp_path, capsys):
    mixture, vocal = str(pair_files / "mixture.wav"), str(pair_files / "vocal.wav")
    extra = ["--methods", "mixture"]
    if case == "not_audio":
        (tmp_path / "mixture.wav").write_text("this is not a wave file")
        mixture = str(tmp_path / "mixture.wav")
    elif case == "missing":
        vocal = str(tmp_path / "nope.wav")
    elif case == "unknown_method":
        extra = ["--methods", "open-unmix"]
    elif case == "length_mismatch":
        data, sr = sf.read(vocal, dtype="float32")
        sf.write(tmp_path / "short.wav", data[: sr // 2], sr)
        vocal = str(tmp_path / "short.wav")
    elif case == "vocal_is_mixture":
        vocal = mixture
    elif case == "bad_json_path":
        (tmp_path / "file").write_text("")
        extra += ["--json", str(tmp_path / "file" / "report.json")]
    elif case == "json_is_a_folder":
        extra += ["--json", str(tmp_path)]
    elif case == "json_empty":
        extra += ["--json", ""]
    code, out, err = _run(["--mixture", mixture, "--vocal", vocal, "--quiet", *extra], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err + out
    assert err.startswith("vsep evaluate: error:")
    if case.startswith(("bad_json", "json_")):
        assert out == ""  # refused before any method ran


def test_cli_argument_errors_exit_2(capsys):
    for argv in (
        ["--mixture", "m.wav"],  # no target
        ["--mixture", "m.wav", "--vocal", "v.wav", "--instrumental", "i.wav"],
        ["--mixture", "m.wav", "--vocal", "v.wav", "--level", "sideways"],
        ["--mixture", "m.wav", "--vocal", "v.wav", "--duration", "whole"],
        ["--mixture", "m.wav", "--vocal", "v.wav", "--duration", "-1"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            _parser().parse_args(["evaluate", *argv])
        assert exit_info.value.code == 2
    capsys.readouterr()


def test_cli_on_the_real_pair_with_every_method(eval_dir, tmp_path, capsys):  # noqa: F811
    code, out, err = _run(
        [
            "--mixture",
            str(eval_dir / "mixture.wav"),
            "--vocal",
            str(eval_dir / "vocal.wav"),
            "--json",
            str(tmp_path / "r.json"),
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["alignment"]["aligned"] and report["alignment"]["lag_samples"] == 0
    assert report["pair"]["n_samples"] == 103635
    from vsep_core.baselines import method_names

    assert [m["name"] for m in report["methods"]] == method_names()
    assert all(m["error"] is None for m in report["methods"])
    print(out)


def test_format_db_marks_rounding_noise_and_missing_values():
    from vsep_core.evaluate import format_db

    assert format_db(12.345) == "  12.35"
    assert format_db(227.4) == "   >150"
    assert format_db(float("inf")) == "    inf"
    assert format_db(float("nan")) == "    n/a"
    assert format_db(None) == "    n/a"
