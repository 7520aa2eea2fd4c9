"""Results to tables: HTML, Markdown, CSV and LaTeX, with the paper-reported rows."""
