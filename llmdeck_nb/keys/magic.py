"""``%llm_key set NAME | list | remove NAME``: keys into the key store from a notebook.

``set`` shows a password box. The value never enters a cell (nothing is typed into
code), an output (only the name is printed) or the saved notebook: the box syncs its
value to the kernel only on Enter (``continuous_update=False``); the kernel stores it,
empties the box and closes it, so no widget state holding it is left to be saved.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from llmdeck_nb.errors import LLMDeckError

MAGICS_NAME = "KeyMagics"
USAGE = "usage: %llm_key set NAME | %llm_key list | %llm_key remove NAME"


@magics_class
class KeyMagics(Magics):
    @line_magic
    def llm_key(self, line: str) -> Any:
        """Store an API key without it ever appearing in the notebook.

        %llm_key set OPENAI_API_KEY     password box; Enter stores it (encrypted)
        %llm_key list                   names and where each is found, never values
        %llm_key remove OPENAI_API_KEY  forget it
        """
        words = line.split()
        try:
            if len(words) == 2 and words[0] == "set":
                return ask_for_key(words[1])
            if words == ["list"]:
                from llmdeck_nb.deck.locate import locate_deck
                from llmdeck_nb.keys.sources import deck_key_names, key_sources

                for row in key_sources(deck_key_names(locate_deck()[0])):
                    extra = f" (also in {row['also_in']})" if row["also_in"] else ""
                    print(f"{row['name']}: {row['used']}{extra}")
                return None
            if len(words) == 2 and words[0] == "remove":
                from llmdeck_nb.keys.store import open_key_store

                store = open_key_store()
                removed = store.remove(words[1])
                print(f"{'removed' if removed else 'not stored:'} {words[1]} ({store.describe()})")
                return None
        except LLMDeckError as exc:
            raise UsageError(str(exc)) from None
        raise UsageError(USAGE)


def ask_for_key(name: str) -> None:
    """Show the password box for ``name``; Enter stores the value and closes the box."""
    import ipywidgets as widgets
    from IPython.display import display

    from llmdeck_nb.keys.store import check_name, open_key_store

    check_name(name)
    store = open_key_store()
    box = widgets.Password(description=name, placeholder="paste the key, then press Enter",
                           continuous_update=False, style={"description_width": "initial"},
                           layout=widgets.Layout(width="32em"))
    status = widgets.Label(f"stored in the {store.kind} once you press Enter")
    panel = widgets.VBox([box, status])

    def submitted(change: dict[str, Any]) -> None:
        value = change["new"]
        if not value:
            return
        box.unobserve(submitted, "value")
        box.value = ""  # the value leaves the widget before anything else happens
        panel.children = (status,)
        box.close()
        try:
            store.set(name, value)
        except LLMDeckError as exc:
            status.value = f"not stored: {exc.message}"
            return
        status.value = f"stored {name} in the {store.describe()}; run %llm_reload to use it"

    box.observe(submitted, "value")
    display(panel)


def register(shell: Any) -> None:
    shell.register_magics(KeyMagics)


def unregister(shell: Any) -> None:
    manager = shell.magics_manager
    if manager.registry.pop(MAGICS_NAME, None) is not None:
        manager.magics["line"].pop("llm_key", None)
