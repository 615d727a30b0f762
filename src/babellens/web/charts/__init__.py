"""What every chart of a page plots, built on the server from the page's data.

The page model carries these :class:`~babellens.web.schemas.Chart` objects, so the JSON twin holds
exactly what is drawn, the page's script (``static/charts/PAGE.js``) only draws them, and the
chart's data table (its text alternative) is rendered from the same numbers.
"""

from babellens.web.charts.crossling import crossling_charts
from babellens.web.charts.lookups import lookups_charts
from babellens.web.charts.neurons import histogram_chart, layer_chart
from babellens.web.charts.steering import steering_charts

__all__ = [
    "crossling_charts",
    "histogram_chart",
    "layer_chart",
    "lookups_charts",
    "steering_charts",
]
