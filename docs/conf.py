"""Sphinx configuration for the course website (`make site`, scripts/build_site.py).

Everything a page needs is in the built folder: the site must read well from file:// on a laptop
with no network, so nothing here points at a CDN.
"""
project = "vae-lessons"
author = "the vae-lessons authors"
copyright = "the vae-lessons authors; MNIST-derived figures CC BY-SA 3.0"

extensions = [
    "myst_nb",                  # notebooks and Markdown, with their saved outputs
    "sphinx-mathjax-offline",   # MathJax 3 copied into _static/ instead of loaded from a CDN
]

# The committed notebooks are the truth that nbval checks: render them, never re-execute.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# Only the exercises' solutions are folded (scripts/build_site.py): say so on the fold.
nb_code_prompt_show = "Show the solution"
nb_code_prompt_hide = "Hide the solution"
# Lessons write some prose from measured numbers (display(Markdown(...))): render those outputs
# with the same MyST syntax as the cells, math included (the default, CommonMark, shows raw $).
nb_render_markdown_format = "myst"

# Widget outputs (tqdm's progress bars) would load require.js and the widget manager from a CDN.
# Load neither, and show the bars' saved text (scripts/execute_notebooks.py writes it from the
# final state). The latent explorer's cells are tagged remove-output: a static page cannot move
# it, and lesson 07's manifold figure shows the same map at fixed points.
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

html_theme = "sphinx_book_theme"
html_title = "vae-lessons"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
}
html_context = {"default_mode": "light"}   # no stored theme choice on file:// (else a console error)
html_show_sourcelink = False
html_copy_source = False                    # the notebooks are in the repository, not the site
html_last_updated_fmt = None
