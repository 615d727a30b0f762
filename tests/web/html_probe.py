"""A small reader of rendered pages (the standard library's parser): the elements with their
attributes, and every chart data table's rows, so tests compare numbers, not markup."""

from __future__ import annotations

from html.parser import HTMLParser


class PageProbe(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.tables: dict[str, list[dict]] = {}
        self._table: str | None = None
        self._row: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.elements.append((tag, found))
        if tag == "table" and "data-chart" in found:
            self._table = found["data-chart"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": found, "values": []}
            self.tables[self._table].append(self._row)
        elif tag == "td" and self._row is not None and "data-value" in found:
            self._row["values"].append(found["data-value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "tr":
            self._row = None

    def by_id(self, element_id: str) -> tuple[str, dict[str, str]]:
        (found,) = [e for e in self.elements if e[1].get("id") == element_id]
        return found

    def rows(self, chart_id: str) -> list[dict]:
        """The table's body rows (the header row has no values)."""
        return [r for r in self.tables[chart_id] if r["values"]]
