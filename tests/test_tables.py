"""sslsv.tables: what the book shows (HTML), a terminal shows (plain text) and the references compare (data) of one table."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from sslsv import tables
from sslsv.systems import shown_frame
from reference import RESULTS_MIME, compare_data, load_tolerances
from sslsv.book import REPO


@pytest.fixture
def summary():
    return pd.DataFrame({
        "system": ["fbank", "random", "masked", "unmasked"],  # keys: the HTML shows their labels
        "upstream": ["fbank", "frozen", "frozen", "frozen"],
        "reference": [True, True, False, False],
        "eer_percent_mean": [27.4, 30.1, 25.0, 28.25],
        "eer_percent_std": [2.0, 1.0, 0.5, np.nan],
        "min_dcf_0.01_mean": [0.99, 0.99, 0.99, 0.99],
        "min_dcf_0.01_std": [0.0, 0.0, 0.0, 0.0],
        "n_seeds": [3, 3, 3, 1],
    })


@pytest.fixture
def per_seed():
    rows = []
    for system, ref, base in (("fbank", True, 27.4), ("masked", False, 25.0)):
        for seed in (0, 1):
            e = base + seed
            rows.append({"system": system, "seed": seed, "reference": ref, "eer_percent": e,
                         "eer_percent_ci_low": e - 1.2, "eer_percent_ci_high": e + 1.0,
                         "min_dcf_0.01": 0.99, "min_dcf_0.01_ci_low": 0.95, "min_dcf_0.01_ci_high": 1.0,
                         "min_dcf_0.05": 0.98, "min_dcf_0.05_ci_low": 0.9, "min_dcf_0.05_ci_high": 1.0})
    return pd.DataFrame(rows)


def cells(html: str) -> list[str]:
    """The text of every body cell, in order."""
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html, flags=re.S)]


def styled_cells(html: str, colour: str) -> list[str]:
    """The text of the body cells whose CSS rule sets ``colour``."""
    ids = set()
    for rule in re.findall(r"(#T_\w+[^{]*)\{([^}]*)\}", html):
        if colour in rule[1]:
            ids.update(re.findall(r"#T_\w+?_(row\d+_col\d+)", rule[0]))
    found = []
    for cell_id, text in re.findall(r'<td id="T_\w+?_(row\d+_col\d+)"[^>]*>(.*?)</td>', html, flags=re.S):
        if cell_id in ids:
            found.append(text.strip())
    return found


def test_mean_sd_and_intervals_are_formatted_as_a_reader_writes_them():
    assert tables.format_mean_sd(27.4, 2.0) == "27.40 ± 2.00"
    assert tables.format_mean_sd(27.44, 1.96, digits=1) == "27.4 ± 2.0"
    assert tables.format_mean_sd(27.4, np.nan) == "27.40"  # one seed: no spread to show
    assert tables.format_interval(27.4, 26.2, 28.4) == "27.40 [26.20, 28.40]"
    assert tables.format_interval(None, 26.2, 28.4, digits=1) == "[26.2, 28.4]"
    assert tables.format_interval(np.nan, 26.2, 28.4) == "– [26.20, 28.40]"


def test_the_summary_shows_mean_sd_highlights_the_best_and_marks_the_references(summary):
    t = tables.table(summary, digits=3)
    shown = cells(t.html)
    assert "27.40 ± 2.00" in shown and "25.00 ± 0.50" in shown and "28.25" in shown
    assert "fbank (reference)" in shown and "random init (reference)" in shown and "masked" in shown
    assert styled_cells(t.html, "#d9f0d3") == ["25.00 ± 0.50"]  # the lowest EER, and only it
    # minDCF saturates (every row 0.99): no cell of it is highlighted
    assert not any(c.startswith("0.990") for c in styled_cells(t.html, "#d9f0d3"))
    reference_cells = styled_cells(t.html, "#f2f2f2")
    assert "fbank (reference)" in reference_cells and "masked" not in reference_cells
    assert "EER (%) (mean ± sd)" in t.html and "eer_percent_std" not in t.html


def test_the_plain_text_is_the_frames_to_string_and_the_data_its_values_at_the_digits_shown(summary):
    t = tables.table(summary, digits=3, caption="Summary")
    assert repr(t) == shown_frame(summary).round(3).to_string(index=False)  # the systems by their labels
    assert "random init" in repr(t)
    (d,) = t.data
    assert d["name"] == "Summary" and d["columns"] == list(summary.columns)
    assert [r[0] for r in d["rows"]] == list(summary["system"])  # the data: their keys
    assert d["rows"] == [[v if not isinstance(v, float) else None if np.isnan(v) else round(v, 3) for v in row]
                         for row in summary.astype(object).values.tolist()]  # a missing value (NaN) is null
    json.dumps(d, allow_nan=False)  # strict JSON: a notebook stores it as is


def test_ipython_stores_html_for_the_book_and_plain_text_for_the_references(summary):
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(tables.table(summary, digits=3))
    assert data["text/plain"] == shown_frame(summary).round(3).to_string(index=False)
    assert data["text/html"].lstrip().startswith("<style")
    assert data[RESULTS_MIME]["tables"][0]["columns"] == list(summary.columns)


def test_a_per_seed_table_goes_into_a_collapsed_dropdown_below_the_summary(summary, per_seed):
    from sslsv.tables import metric_table

    t = tables.results(summary, per_seed, digits=3)
    assert t.html.index("27.40 ± 2.00") < t.html.index("<details")  # the summary first, the long table folded below
    assert '<details class="sslsv-details">' in t.html and "<details class=\"sslsv-details\" open" not in t.html
    inside = t.html[t.html.index("<details"):]
    assert "25.00 [23.80, 26.00]" in cells(inside) and "fbank (reference)" in cells(inside)
    # the plain text: the summary, a blank line, then the per-seed table; the data: both tables, named
    assert t.text == shown_frame(summary).round(3).to_string(index=False) + "\n\n" + metric_table(per_seed)
    assert [d["name"] for d in t.data] == ["summary", "per run"]


def test_the_references_compare_a_tables_numbers_within_their_tolerance(summary, per_seed):
    kinds = load_tolerances(REPO / "tests" / "notebooks" / "tolerances.toml")

    def bundle(per_seed):
        return {"tables": list(tables.results(summary, per_seed, digits=3).data)}

    ref = bundle(per_seed)
    assert compare_data(ref, bundle(per_seed.assign(eer_percent=per_seed["eer_percent"] + 0.5)), kinds) is None
    why = compare_data(ref, bundle(per_seed.assign(eer_percent=per_seed["eer_percent"] + 20)), kinds)
    assert why is not None and "table 2 (per run)" in why and "column eer_percent" in why


def test_verdicts_are_coloured_and_spelled_out():
    frame = pd.DataFrame({"factor": ["objective", "model size"], "paper's claim": ["masked helps", "larger helps"],
                          "verdict": ["reproduced", "inconclusive"], "evidence (EER points)": ["x", "y"]})
    t = tables.verdicts(frame, "objective: masked helps\n  verdict: reproduced")
    assert styled_cells(t.html, "#d9f0d3") == ["reproduced"] and styled_cells(t.html, "#fdf1c7") == ["inconclusive"]
    assert repr(t) == "objective: masked helps\n  verdict: reproduced"


def test_the_html_is_stable_across_executions(summary):
    assert tables.table(summary).html == tables.table(summary.copy()).html
    assert tables.table(summary).html != tables.table(summary.assign(n_seeds=2)).html


def test_the_references_are_marked_by_their_keys_the_analysed_random_init_included():
    import pandas as pd

    from sslsv import tables

    t = tables.table(pd.DataFrame({"model": ["fbank", "ssl_fine_tuned", "random_fine_tuned"], "eer": [1.0, 2.0, 3.0]}))
    assert "fbank (reference)" in t.html and "random init fine-tuned (reference)" in t.html
    assert "SSL fine-tuned (reference)" not in t.html
