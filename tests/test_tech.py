"""Technology tables: shipped values, fits, the 28 nm derivation, and refusal of bad tables."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.errors import UserError
from imsim.tech import (LABELS, REQUIRED, TABLES_DIR, available_technologies, fit_power_law,
                        fit_proportional, load_technology)

SETTINGS = settings(max_examples=30, deadline=None)


def _table_45() -> dict:
    return yaml.safe_load((TABLES_DIR / "45nm.yaml").read_text())


def _write(tmp_path: Path, data: dict, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_shipped_tables_are_listed_and_load_by_name_and_path():
    assert {"45nm", "28nm"} <= set(available_technologies())
    by_name = load_technology("45nm")
    by_path = load_technology(str(TABLES_DIR / "45nm.yaml"))
    assert by_name.entries == by_path.entries
    assert by_name.node_nm == 45 and load_technology("28nm").node_nm == 28


def test_every_entry_has_source_and_label():
    for name in ("45nm", "28nm"):
        tech = load_technology(name)
        assert {e.key for e in tech.entries} == set(REQUIRED)
        for e in tech.entries:
            assert e.label in LABELS and e.source
            if e.label == "derived":
                assert e.formula


def test_horowitz_points_are_the_published_ones():
    t = load_technology("45nm")
    published = {"add_energy_8b": 0.03, "add_energy_16b": 0.05, "add_energy_32b": 0.1,
                 "mult_energy_8b": 0.2, "mult_energy_32b": 3.1, "sram_read_energy_64b_8kib": 10,
                 "sram_read_energy_64b_32kib": 20, "sram_read_energy_64b_1mib": 100,
                 "dram_energy_64b_low": 1300, "dram_energy_64b_high": 2600}  # pJ
    for key, value in published.items():
        assert t[key] == pytest.approx(value), key
        assert t.entry(key).label == "published"
    assert t.entry("dram_energy_64b_low").given_unit == "nJ"  # normalised nJ -> pJ


def test_fits_match_the_issue_exponents():
    t = load_technology("45nm")
    # square widths: E ~ b^(2 gamma); Horowitz's 8- and 32-bit points give ~2 (energy), ~1.8 (area)
    assert 2 * t.mult_energy_exponent == pytest.approx(2 * math.log(3.1 / 0.2) / math.log(16))
    assert 1.95 < 2 * t.mult_energy_exponent < 2.0
    assert 1.78 < 2 * t.mult_area_exponent < 1.85
    k, q = t.sram_energy_fit
    assert 0.4 < q < 0.55  # CACTI-like ~capacity^0.5
    for cap, e in ((8, 10), (32, 20), (1024, 100)):
        assert k * cap ** q == pytest.approx(e, rel=0.15)
    assert t.add_energy_per_bit_pj * 32 == pytest.approx(0.1, rel=0.05)
    assert t.dram_energy_per_bit_pj == pytest.approx(1950 / 64)


def test_28nm_is_45nm_scaled_by_stillmaker_baas():
    t45, t28 = load_technology("45nm"), load_technology("28nm")
    for key, kind in REQUIRED.items():
        if key.startswith("dram_") or kind == "ratio":
            factor = 1.0
        else:
            factor = {"energy": 0.51, "area": 0.38, "power_density": 0.51 / 0.38}[kind]
            assert t28.entry(key).label == "derived" and "Stillmaker" in t28.entry(key).source
        assert t28[key] == pytest.approx(t45[key] * factor, rel=1e-5), key


@SETTINGS
@given(k=st.floats(0.01, 100), q=st.floats(0.1, 3), xs=st.lists(st.floats(1, 1e4), min_size=2, max_size=5,
                                                                  unique=True))
def test_fit_power_law_recovers_exact_laws(k, q, xs):
    if max(xs) / min(xs) < 1.5:
        return
    kk, qq = fit_power_law(xs, [k * x ** q for x in xs])
    assert qq == pytest.approx(q, rel=1e-6) and kk == pytest.approx(k, rel=1e-5)


def test_fit_proportional():
    assert fit_proportional([1, 2, 4], [3, 6, 12]) == pytest.approx(3)


# ---- refusals: file, key and value in one line ----
def _refused(tmp_path: Path, data: dict, *needles: str) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(UserError) as info:
        load_technology(str(path))
    msg = str(info.value)
    assert "\n" not in msg
    for needle in (str(path), *needles):
        assert needle in msg, (needle, msg)
    return msg


def test_missing_entry_is_refused(tmp_path):
    data = _table_45()
    del data["entries"]["mult_energy_32b"]
    _refused(tmp_path, data, "entries.mult_energy_32b", "missing")


def test_negative_energy_is_refused(tmp_path):
    data = _table_45()
    data["entries"]["add_energy_16b"]["value"] = -0.05
    _refused(tmp_path, data, "entries.add_energy_16b", "-0.05", "negative")


def test_unknown_unit_is_refused(tmp_path):
    data = _table_45()
    data["entries"]["sram_read_energy_64b_8kib"]["unit"] = "kcal"
    _refused(tmp_path, data, "entries.sram_read_energy_64b_8kib.unit", "kcal", "pJ")


def test_unit_of_the_wrong_kind_is_refused(tmp_path):
    data = _table_45()
    data["entries"]["reg_bit_area"]["unit"] = "pJ"
    _refused(tmp_path, data, "entries.reg_bit_area.unit", "pJ", "um2")


@pytest.mark.parametrize("mutate, needles", [
    (lambda d: d["entries"].update(warp_drive={"value": 1, "unit": "pJ", "source": "x", "label": "assumed"}),
     ("entries.warp_drive", "unknown entry")),
    (lambda d: d["entries"]["mux2_bit_area"].update(label="guessed"), ("entries.mux2_bit_area.label", "guessed")),
    (lambda d: d["entries"]["mux2_bit_area"].update(label="derived"), ("entries.mux2_bit_area.formula",)),
    (lambda d: d["entries"]["mux2_bit_area"].pop("source"), ("entries.mux2_bit_area.source", "missing")),
    (lambda d: d["entries"]["mult_area_32b"].update(value=100), ("entries.mult_area_32b.value", "100")),
    (lambda d: d["entries"]["sram_array_efficiency"].update(value=1.5), ("sram_array_efficiency", "1.5")),
    (lambda d: d["entries"]["add_area_8b"].update(value="big"), ("entries.add_area_8b.value", "big")),
    (lambda d: d.update(color="blue"), ("color", "unknown key")),
    (lambda d: d.pop("entries"), ("entries", "missing")),
])
def test_other_bad_tables_are_refused(tmp_path, mutate, needles):
    data = _table_45()
    mutate(data)
    _refused(tmp_path, data, *needles)


def test_bad_yaml_and_unknown_names_are_user_errors(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(UserError, match="broken.yaml"):
        load_technology(str(path))
    with pytest.raises(UserError, match="45nm"):  # lists what is allowed
        load_technology("3nm")
    with pytest.raises(UserError, match="no such file"):
        load_technology(str(tmp_path / "absent.yaml"))


def test_other_units_are_normalised(tmp_path):
    data = _table_45()
    data["entries"]["reg_bit_write_energy"] = {"value": 2.0, "unit": "fJ", "source": "test", "label": "assumed"}
    data["entries"]["leakage_power_density"] = {"value": 10, "unit": "mW/mm2", "source": "t", "label": "assumed"}
    data["entries"]["mux2_bit_area"] = {"value": 1.9e-6, "unit": "mm2", "source": "test", "label": "assumed"}
    tech = load_technology(str(_write(tmp_path, data, "units.yaml")))
    assert tech["reg_bit_write_energy"] == pytest.approx(0.002)
    assert tech["leakage_power_density"] == pytest.approx(10)
    assert tech["mux2_bit_area"] == pytest.approx(1.9)
