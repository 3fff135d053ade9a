"""Pure builders of Dash layouts and Plotly figures: data in, components out, no I/O. Unit-tested."""
