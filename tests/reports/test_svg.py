"""Server-side SVG charts: escaped text, empty data, None values, bar heights, thinned axis labels."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from markupsafe import Markup

from tracker.reports import Chart, Series
from tracker.reports import svg

NS = "{http://www.w3.org/2000/svg}"


def parse(markup):
    assert isinstance(markup, Markup)
    return ET.fromstring(str(markup))  # well-formed XML, or this raises


def bars(root):
    return [r for r in root.iter(f"{NS}rect") if r.get("class") == "bar"]


def test_accessible_and_self_contained():
    chart = Chart("bar", "Time in stage", ["Received", "Press"], [Series("Median", [1, 2])], unit="hours")
    out = svg.render(chart)
    root = parse(out)
    assert root.get("role") == "img" and root.get("aria-label") == "Time in stage"
    assert root.get("viewBox") == "0 0 960 380" and root.get("width") == "100%"
    assert root.find(f"{NS}title").text == "Time in stage"
    assert "<script" not in out and "@import" not in out and "url(" not in out and "href" not in out
    assert min(int(s) for s in re.findall(r'font-size="(\d+)"', out)) >= 12
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "unit"] == ["hours"]
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "label"] == ["Received", "Press"]
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "legend"] == ["Median"]


def test_text_is_escaped():
    evil = '<script>alert("x")</script>&'
    chart = Chart("bar", evil, [evil], [Series(evil, [3])], unit=evil)
    out = svg.render(chart)
    assert "<script>" not in out
    assert "&lt;script&gt;" in out and "&amp;" in out
    root = parse(out)
    assert root.find(f"{NS}title").text == evil  # escaped in the markup, the same text when read back
    line = svg.render(Chart("line", "t", [evil], [Series(evil, [1])]))
    assert "<script>" not in str(line)
    parse(line)


def test_empty_data_says_so():
    for chart in (Chart("bar", "Nothing", [], []), Chart("line", "Nothing", ["Mon", "Tue"], [Series("a", [None, None])])):
        root = parse(svg.render(chart))
        texts = [t.text for t in root.iter(f"{NS}text")]
        assert texts == ["No data in this period"]
        assert root.get("role") == "img"


def test_bar_heights_are_proportional_to_values():
    chart = Chart("bar", "t", ["a", "b", "c", "d"], [Series("s", [10, 20, 40, 0])])
    hs = [float(r.get("height")) for r in bars(parse(svg.render(chart)))]
    assert hs[1] == 2 * hs[0] and hs[2] == 4 * hs[0] and hs[3] == 0
    ys = [float(r.get("y")) + float(r.get("height")) for r in bars(parse(svg.render(chart)))]
    assert len(set(ys)) == 1  # every bar stands on the same baseline


def test_grouped_bars_and_none_values_skipped():
    chart = Chart("bar", "t", ["a", "b"], [Series("median", [1, None]), Series("p90", [4, 8])])
    rects = bars(parse(svg.render(chart)))
    assert [(r.get("data-series"), r.get("data-index")) for r in rects] == [("0", "0"), ("1", "0"), ("1", "1")]
    h = {(r.get("data-series"), r.get("data-index")): float(r.get("height")) for r in rects}
    assert h[("1", "1")] == 2 * h[("1", "0")] == 8 * h[("0", "0")]
    assert float(rects[0].get("x")) < float(rects[1].get("x"))  # side by side within the label's group


def test_gridlines_on_nice_values():
    root = parse(svg.render(Chart("bar", "t", ["a"], [Series("s", [37])])))
    ticks = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "tick"]
    assert ticks == ["0", "10", "20", "30", "40"]
    assert len([g for g in root.iter(f"{NS}line") if g.get("class") == "grid"]) == 5


def test_line_breaks_at_none_and_draws_points():
    chart = Chart("line", "t", ["1", "2", "3", "4", "5"], [Series("a", [1, 2, None, 4, 5]), Series("b", [3, 3, 3, 3, 3])])
    root = parse(svg.render(chart))
    lines = [p for p in root.iter(f"{NS}polyline")]
    assert [(p.get("data-series"), len(p.get("points").split())) for p in lines] == [("0", 2), ("0", 2), ("1", 5)]
    points = [c for c in root.iter(f"{NS}circle")]
    assert len(points) == 9
    assert lines[0].get("stroke") != lines[2].get("stroke") and lines[2].get("stroke-dasharray")


def test_many_labels_are_thinned():
    labels = [f"Day {i}" for i in range(90)]
    root = parse(svg.render(Chart("line", "t", labels, [Series("a", list(range(90)))])))
    shown = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "label"]
    assert 5 <= len(shown) <= 14  # about one per 64 px of an 868 px wide plot
    assert shown[0] == "Day 0"
    xs = [float(t.get("x")) for t in root.iter(f"{NS}text") if t.get("class") == "label"]
    assert min(b - a for a, b in zip(xs, xs[1:])) >= svg.MIN_LABEL_SPACING
    assert len(list(root.iter(f"{NS}circle"))) == 90  # every point is still drawn


def test_legend_wraps_rather_than_dropping_names():
    names = ["Received", "Pre-production", "On press", "Quality check", "Packaging", "Label", "Another stage"]
    root = parse(svg.render(Chart("line", "t", ["a", "b"], [Series(n, [1, 2]) for n in names])))
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "legend"] == names
