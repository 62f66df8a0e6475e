"""Contract and fact tests for the instrument registry and its catalogue."""

from __future__ import annotations

import dataclasses
import math
import re

import pandas as pd
import pytest

from toolkit import instruments
from toolkit.errors import UnknownNameError
from toolkit.instruments import Instrument

REQUIRED = (
    "PHQ-9",
    "GAD-7",
    "BDI-II",
    "BDI",
    "HAM-D17",
    "CORE-10",
    "CORE-OM",
    "OQ-45",
    "PCL-5",
    "K10",
    "SHAPS",
    "WHO-5",
)

from toolkit.instruments import CATALOGUE


def _make(**overrides) -> Instrument:
    kwargs = dict(
        name="TESTSCALE",
        full_name="Test scale",
        min_score=0,
        max_score=10,
        better="lower",
        citation="In-house (2024).",
    )
    kwargs.update(overrides)
    return Instrument(**kwargs)


# --- Registry contents and look-up --------------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED)
def test_required_instrument_is_registered(name):
    inst = instruments.get(name)
    assert isinstance(inst, Instrument)
    assert inst.name == name


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("phq9", "PHQ-9"),
        ("PHQ 9", "PHQ-9"),
        ("gad-7", "GAD-7"),
        ("GAD_7", "GAD-7"),
        ("bdi2", "BDI-II"),
        ("bdi-ii", "BDI-II"),
        ("BDI", "BDI"),
        ("ham-d", "HAM-D17"),
        ("HAMD", "HAM-D17"),
        ("HDRS17", "HAM-D17"),
        ("core 10", "CORE-10"),
        ("core om", "CORE-OM"),
        ("OQ45.2", "OQ-45"),
        ("oq-45", "OQ-45"),
        ("pcl5", "PCL-5"),
        ("k-10", "K10"),
        ("shaps", "SHAPS"),
        ("who5", "WHO-5"),
    ],
)
def test_get_accepts_loose_spellings_and_aliases(spelling, expected):
    assert instruments.get(spelling).name == expected


def test_get_returns_an_instrument_unchanged():
    mine = _make()
    assert instruments.get(mine) is mine


def test_catalogue_names_and_aliases_do_not_collide():
    from toolkit.instruments._registry import _key

    keys = [_key(i.name) for i in CATALOGUE]
    assert len(keys) == len(set(keys))
    for inst in CATALOGUE:
        for alias in inst.aliases:
            assert instruments.get(alias) is inst


# --- Pinned facts -------------------------------------------------------------------------

# name: (min_score, max_score, better, cutoff)
RANGES = {
    # Kroenke, Spitzer & Williams 2001: 0-27, cut-off >= 10 (sens./spec. 88% for MDD)
    "PHQ-9": (0, 27, "lower", 10),
    # Spitzer et al. 2006: 0-21, cut-off >= 10 (sens. 89%, spec. 82% for GAD)
    "GAD-7": (0, 21, "lower", 10),
    # Beck, Steer & Brown 1996 manual: 0-63, 0-13 minimal, 14-19 mild
    "BDI-II": (0, 63, "lower", 14),
    "BDI": (0, 63, "lower", 10),
    "HAM-D17": (0, 52, "lower", 8),
    # Barkham et al. 2013: 0-40, clinical cut-off 11.0
    "CORE-10": (0, 40, "lower", 11),
    "CORE-OM": (0, 4, "lower", 1.0),
    # Lambert et al. 1996 / 2004 manual: 0-180, 63 or below functional, 64 or above clinical
    "OQ-45": (0, 180, "lower", 64),
    "PCL-5": (0, 80, "lower", 33),
    "K10": (10, 50, "lower", 20),
    "SHAPS": (0, 14, "lower", 3),
    "WHO-5": (0, 25, "higher", 12),
}


def test_every_required_instrument_has_pinned_range():
    assert set(RANGES) == set(REQUIRED)


@pytest.mark.parametrize("name", sorted(RANGES))
def test_range_direction_and_cutoff(name):
    lo, hi, better, cutoff = RANGES[name]
    inst = instruments.get(name)
    assert (inst.min_score, inst.max_score) == (lo, hi)
    assert isinstance(inst.min_score, float) and isinstance(inst.max_score, float)
    assert inst.better == better
    assert inst.cutoff == pytest.approx(cutoff)


def test_phq9_reliability():
    inst = instruments.get("PHQ-9")
    # Kroenke, Spitzer & Williams 2001: alpha .89 (primary care; .86 OB-GYN), retest .84
    assert inst.reliability == 0.89
    assert inst.test_retest == 0.84


def test_gad7_reliability():
    inst = instruments.get("GAD-7")
    # Spitzer et al. 2006: alpha .92, test-retest intraclass correlation .83
    assert inst.reliability == 0.92
    assert inst.test_retest == 0.83


def test_bdi2_reliability_and_norms():
    inst = instruments.get("BDI-II")
    # Beck, Steer & Brown 1996 manual: alpha .92 and 1-week retest .93 (outpatients);
    # 500 outpatients M 22.45 (SD 12.75); 120 college students M 12.56 (SD 9.93)
    assert (inst.reliability, inst.test_retest) == (0.92, 0.93)
    assert (inst.clinical_mean, inst.clinical_sd) == (22.45, 12.75)
    assert (inst.functional_mean, inst.functional_sd) == (12.56, 9.93)
    assert "500 psychiatric outpatients" in inst.notes
    assert "120 college students" in inst.notes


def test_core10_reliability_and_norms():
    inst = instruments.get("CORE-10")
    # Barkham et al. 2013: alpha .90; Connell & Barkham 2007 manual: primary care
    # counselling M 19.7 (SD 7.7), general population M 4.7 (SD 4.8)
    assert inst.reliability == 0.90
    assert (inst.clinical_mean, inst.clinical_sd) == (19.7, 7.7)
    assert (inst.functional_mean, inst.functional_sd) == (4.7, 4.8)


def test_core10_norms_reproduce_published_reliable_change():
    inst = instruments.get("CORE-10")
    # Barkham et al. 2013 report a reliable change of 6 points at the 90% level:
    # 1.645 * sqrt(2) * 7.7 * sqrt(1 - .90) = 5.66, which rounds to 6.
    rc90 = 1.645 * math.sqrt(2) * inst.clinical_sd * math.sqrt(1 - inst.reliability)
    assert rc90 == pytest.approx(5.6646, abs=1e-3)
    assert round(rc90) == 6


def test_oq45_reliability():
    inst = instruments.get("OQ-45")
    # Lambert et al. 1996: alpha .93, 3-week test-retest .84; RCI 14 recorded in notes
    assert (inst.reliability, inst.test_retest) == (0.93, 0.84)
    assert "14 points" in inst.notes


def test_other_pinned_reliabilities():
    assert instruments.get("BDI").reliability == 0.86
    pcl = instruments.get("PCL-5")
    assert (pcl.reliability, pcl.test_retest) == (0.94, 0.82)


@pytest.mark.parametrize("name", ["CORE-OM", "K10", "SHAPS", "WHO-5"])
def test_unverified_reliability_is_left_unset_and_explained(name):
    inst = instruments.get(name)
    assert inst.reliability is None
    assert "left None" in inst.notes


def test_hamd_reliability_is_the_pooled_meta_analytic_value():
    # Trajkovic et al. (2011), Psychiatry Research 189(1), 1-9: internal consistency .789.
    inst = instruments.get("HAM-D17")
    assert inst.reliability == 0.789 and "Trajkovic" in inst.citation


@pytest.mark.parametrize("name, points, caseness", [("PHQ-9", 6, 10), ("GAD-7", 4, 8)])
def test_nhs_talking_therapies_criteria_are_published_alternatives(name, points, caseness):
    inst = instruments.get(name)
    assert inst.reliable_change == points and "Talking Therapies" in inst.reliable_change_citation
    t = inst.threshold("NHS Talking Therapies caseness")
    assert t.value == caseness and "Gyani" in t.citation
    if name == "GAD-7":
        assert inst.cutoff == 10 and t.value != inst.cutoff  # the service differs from Spitzer
    with pytest.raises(KeyError, match="has no threshold named"):
        inst.threshold("nope")


def test_fixed_reliable_change_needs_a_citation_and_fits_the_range():
    with pytest.raises(ValueError, match="reliable_change_citation"):
        _make(reliable_change=5)
    with pytest.raises(ValueError, match="larger than the whole score range"):
        _make(reliable_change=500, reliable_change_citation="x")


def test_licensed_instrument_ships_no_proprietary_norms():
    oq = instruments.get("OQ-45")
    assert oq.clinical_mean is None and oq.functional_mean is None
    assert "proprietary" in oq.notes and oq.reliable_change == 14


def test_core_om_is_a_mean_item_score():
    inst = instruments.get("CORE-OM")
    assert inst.integer_scores is False
    assert "x 10" in inst.notes and "clinical score" in inst.notes.lower()


def test_integer_scores_for_sum_scores():
    for inst in CATALOGUE:
        if inst.name != "CORE-OM":
            assert inst.integer_scores is True, inst.name


# --- Properties every catalogue entry must have -------------------------------------------


@pytest.mark.parametrize("inst", CATALOGUE, ids=lambda i: i.name)
def test_entry_is_documented(inst):
    assert inst.full_name.strip()
    assert inst.citation.strip()
    assert re.search(r"\((19|20)\d{2}\)", inst.citation), "citation needs a year"
    assert inst.notes.strip()


@pytest.mark.parametrize("inst", CATALOGUE, ids=lambda i: i.name)
def test_entry_facts_are_consistent(inst):
    for r in (inst.reliability, inst.test_retest):
        if r is not None:
            assert 0 < r < 1
    if inst.cutoff is not None:
        assert inst.min_score < inst.cutoff <= inst.max_score
    for mean, sd in [
        (inst.clinical_mean, inst.clinical_sd),
        (inst.functional_mean, inst.functional_sd),
    ]:
        assert (mean is None) == (sd is None)
        if mean is not None:
            assert inst.min_score <= mean <= inst.max_score
            assert sd > 0
    if inst.clinical_mean is not None and inst.functional_mean is not None:
        # the clinical sample is worse than the functional one in the instrument's direction
        assert inst.sign * (inst.clinical_mean - inst.functional_mean) > 0


def test_jacobson_truax_criteria_from_bdi2_facts():
    inst = instruments.get("BDI-II")
    # By hand: 1.96 * sqrt(2) * 12.75 * sqrt(1 - .92) = 1.96 * 12.75 * sqrt(.16)
    #        = 1.96 * 12.75 * 0.4 = 9.996 points
    rci = 1.96 * math.sqrt(2) * inst.clinical_sd * math.sqrt(1 - inst.reliability)
    assert rci == pytest.approx(9.996, abs=1e-9)
    # Criterion c: (9.93 * 22.45 + 12.75 * 12.56) / (9.93 + 12.75) = 383.0685 / 22.68 = 16.890
    c = (inst.functional_sd * inst.clinical_mean + inst.clinical_sd * inst.functional_mean) / (
        inst.functional_sd + inst.clinical_sd
    )
    assert c == pytest.approx(16.8901, abs=1e-4)


# --- sign ----------------------------------------------------------------------------------


def test_sign_follows_direction():
    assert instruments.get("BDI-II").sign == 1
    assert instruments.get("WHO-5").sign == -1
    assert _make(better="lower").sign == 1
    assert _make(better="higher").sign == -1


def test_sign_makes_improvement_positive():
    bdi, who = instruments.get("BDI-II"), instruments.get("WHO-5")
    assert bdi.sign * (30 - 10) > 0  # depression score fell
    assert who.sign * (5 - 20) > 0  # well-being rose


# --- available() ---------------------------------------------------------------------------


def test_available_is_one_row_per_instrument():
    table = instruments.available()
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [f.name for f in dataclasses.fields(Instrument)]
    assert table["name"].is_unique
    assert set(REQUIRED) <= set(table["name"])
    from toolkit.instruments._registry import _REGISTRY

    assert len(table) == len(_REGISTRY)
    assert list(table["name"]) == sorted(table["name"])
    row = table.set_index("name").loc["PHQ-9"]
    assert row["max_score"] == 27 and row["better"] == "lower"


def test_available_on_empty_registry_keeps_columns(monkeypatch):
    from toolkit.instruments import _registry

    monkeypatch.setattr(_registry, "_REGISTRY", {})
    table = instruments.available()
    assert table.empty
    assert "name" in table.columns and "cutoff" in table.columns


# --- register / unregister -----------------------------------------------------------------


def test_register_and_unregister_user_instrument():
    mine = _make(name="MY-SCALE", aliases=("myscale2",))
    instruments.register(mine)
    try:
        assert instruments.get("my scale") is mine
        assert instruments.get("MYSCALE2") is mine
        assert "MY-SCALE" in set(instruments.available()["name"])
    finally:
        instruments.unregister("MY-SCALE")
    for spelling in ("MY-SCALE", "myscale2"):
        with pytest.raises(UnknownNameError):
            instruments.get(spelling)
    assert "MY-SCALE" not in set(instruments.available()["name"])


def test_register_name_clash_needs_overwrite():
    first = _make(name="CLASH-TEST", max_score=10)
    second = _make(name="clash test", max_score=20)
    instruments.register(first)
    try:
        with pytest.raises(ValueError, match="already registered.*overwrite=True"):
            instruments.register(second)
        assert instruments.get("CLASH-TEST") is first
        instruments.register(second, overwrite=True)
        assert instruments.get("CLASH-TEST") is second
    finally:
        instruments.unregister("CLASH-TEST")
    with pytest.raises(UnknownNameError):
        instruments.get("CLASH-TEST")


def test_register_alias_clash_with_catalogue_raises():
    with pytest.raises(ValueError, match="already registered"):
        instruments.register(_make(name="NOT-PHQ", aliases=("phq9",)))
    with pytest.raises(UnknownNameError):
        instruments.get("NOT-PHQ")
    assert instruments.get("phq9").name == "PHQ-9"


def test_register_rejects_non_instrument():
    with pytest.raises(TypeError, match="Instrument"):
        instruments.register({"name": "PHQ-9"})


def test_unregister_unknown_name_raises():
    with pytest.raises(UnknownNameError, match="No instrument named"):
        instruments.unregister("NO-SUCH-SCALE")


# --- errors --------------------------------------------------------------------------------


def test_unknown_name_error_lists_registered_names():
    with pytest.raises(UnknownNameError) as info:
        instruments.get("NO-SUCH-SCALE")
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, KeyError)
    message = str(err)
    assert "'NO-SUCH-SCALE'" in message
    for name in ("PHQ-9", "BDI-II", "WHO-5"):
        assert name in message
    assert "register()" in message


def test_unknown_name_is_catchable_as_keyerror_and_valueerror():
    with pytest.raises(KeyError):
        instruments.get("nope")
    with pytest.raises(ValueError):
        instruments.get("nope")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_score": 10, "max_score": 10}, r"min_score \(10\.0\) must be below max_score"),
        ({"min_score": 20, "max_score": 10}, r"min_score \(20\.0\) must be below max_score"),
        ({"better": "up"}, r"one of \{'lower', 'higher'\}. Got 'up'"),
        ({"reliability": 1.2}, r"reliability must lie in \(0, 1\); got 1\.2"),
        ({"reliability": 0}, r"reliability must lie in \(0, 1\)"),
        ({"test_retest": 1.0}, r"test_retest must lie in \(0, 1\)"),
        ({"clinical_sd": -1.0}, r"clinical_sd must be a positive number; got -1\.0"),
        ({"functional_sd": 0}, r"functional_sd must be a positive number"),
        ({"clinical_sd": math.nan}, r"clinical_sd must be a positive number"),
        ({"reliable_change": -2}, r"reliable_change must be a positive number"),
    ],
)
def test_invalid_instrument_raises_helpful_valueerror(overrides, message):
    with pytest.raises(ValueError, match=message):
        _make(**overrides)


def test_instrument_is_frozen_and_exports_dict():
    inst = instruments.get("GAD-7")
    with pytest.raises(dataclasses.FrozenInstanceError):
        inst.cutoff = 8  # type: ignore[misc]
    facts = inst.to_dict()
    assert facts["name"] == "GAD-7" and facts["reliability"] == 0.92
