"""Build tests/notebooks_magics/magics_tour.ipynb and record its outputs.

Run it again after changing the cells: ``python tests/notebooks_magics/make_notebook.py``.
The notebook passes plain ``pytest --nbval`` (the project's addopts collect every notebook):
cells whose output varies (latency in footers, widget ids, the backends of this machine) are
tagged ``nbval-ignore-output``; the ``print`` cells after them check what matters.
tests/test_magics.py also executes it on its own.
"""

import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

IGNORE = "#ignore#"  # prefix in CELLS only: becomes the cell tag nbval-ignore-output

CELLS = [
    ("md", "# llmdeck magics tour\n\n"
           "Executed by nbval (tests/test_magics.py). Offline: the demo backend answers "
           "(`LLMDECK_PROFILE=demo`), with a fresh call log and cache."),
    ("code", "import os\nimport tempfile\n\n"
             "os.environ[\"LLMDECK_CACHE_DIR\"] = tempfile.mkdtemp(prefix=\"llmdeck-tour-\")\n"
             "os.environ[\"LLMDECK_PROFILE\"] = \"demo\"  # offline, even where keys are set"),
    ("code", IGNORE + "%load_ext llmdeck_nb"),
    ("code", "x = 6 * 7"),
    ("code", IGNORE + "%%llm -o answer\nWhat is {x}?"),
    ("code", "print(answer.backend, answer.cached, \"What is 42?\" in answer.text, _llm is answer)"
             "  # noqa: F821 (set by %%llm)"),
    ("code", IGNORE + "%%llm -o again\nWhat is {x}?"),
    ("code", "print(again.cached, again.text == answer.text)  # noqa: F821"),
    ("code", "log = %llm_log\nprint(len(log), list(log.status))"),
    ("code", "summary = %llm_log --summary\nprint(summary.loc[0, 'calls'], summary.loc[0, "
             "'cache_hits'])"),
    ("code", IGNORE + "%%llm --stream -f text\nStream this answer, please"),
    ("code", "print(_llm.text.startswith('[demo answer'))  # noqa: F821"),
    ("code", IGNORE + "%%llm_compare cheap-gpt,best-gpt,no-such-model\nSay hi"),
    ("code", "df = _  # noqa: F821\nprint(list(df.target), df.error.notna().tolist())"),
    ("code", IGNORE + "%llm_panel"),
    ("code", IGNORE + "%llm_use best-gpt"),
    ("code", "import llmdeck_nb\n\nprint(llmdeck_nb.default_session().default_model)"),
    ("code", IGNORE + "%llm_profile nowhere"),  # a UsageError: one message, no traceback
]


def build() -> nbformat.NotebookNode:
    cells = []
    for kind, source in CELLS:
        if kind == "md":
            cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            tags = []
            if source.startswith(IGNORE):
                source = source[len(IGNORE):]
                tags.append("nbval-ignore-output")
            if "nowhere" in source:
                tags.append("raises-exception")
            cell = nbformat.v4.new_code_cell(source)
            if tags:
                cell.metadata["tags"] = tags
            cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


if __name__ == "__main__":
    notebook = build()
    NotebookClient(notebook, timeout=60,
                   resources={"metadata": {"path": tempfile.gettempdir()}}).execute()
    nbformat.write(notebook, Path(__file__).with_name("magics_tour.ipynb"))
    for cell in notebook.cells:
        if cell.cell_type == "code":
            print("----", cell.source.splitlines()[-1][:70])
            for output in cell.outputs:
                text = (output.get("text") or output.get("data", {}).get("text/plain")
                        or output.get("evalue"))
                print("   ", output.get("output_type"), str(text)[:120])
