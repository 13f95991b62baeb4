"""The Jupyter front end: magics, prompt interpolation, display, the widget panel.

No business logic lives here: every magic parses its arguments, calls the
:class:`~llmdeck_nb.engine.session.Session`, and displays the result.

    extension.py      %load_ext / %unload_ext: register the magics, print the deck status line
    magics.py         LLMDeckMagics: %%llm, %%llm_compare, %llm_* (traitlets settings)
    arguments.py      magic_arguments declarations -> Session keyword arguments
    interpolation.py  {name} / {expression} filling from the notebook namespace
    controls.py       the one path that changes the session's settings; observers (panel,
                      magics)
    choices.py        handles under a profile and how each resolves (dropdown, listings)
    display.py        renders answers, footers, messages, frames, the deck status line
    panel.py          the ipywidgets panel
"""
