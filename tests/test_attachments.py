"""Images and PDFs from the notebook: --image, --pdf and {var}, sent as message parts to the
loopback fake server, refused before sending where the model's spec does not take them."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import textwrap

import pytest
from deck_folders import LOOPBACK_ENV

from llmdeck_nb.engine.attachments import attachment_part, is_attachment, sniff

pytest_plugins = ["notebooks_magics.shell_fixtures"]  # session, ip, run

EXTRA_SPECS = '''

[two-images]
model_id = "two-images"
inputs = ["text", "images"]
max_prompt_images = 2
costs = { input = 1.0, output = 2.0 }

[pdf-reader]
model_id = "pdf-reader"
inputs = ["text", "pdf"]
costs = { input = 1.0, output = 2.0 }
'''
# the smallest valid PDF header is enough: the parts carry bytes, nothing parses them
PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def png_bytes(colour=(200, 30, 30), size=(4, 3)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def vision(session, monkeypatch):
    """The loopback deck plus a model with max_prompt_images = 2 and one that reads PDFs."""
    for name, value in LOOPBACK_ENV.items():
        monkeypatch.setenv(name, value)
    specs = session.deck.folder / "backends" / "openai.toml"
    specs.write_text(specs.read_text() + EXTRA_SPECS)
    session.reload(session.deck.folder)
    session.use_profile("loopback")
    return session


def last_user_content(fake_llm_server):
    bodies = [r.json for r in fake_llm_server.requests if r.path.endswith("/chat/completions")]
    return bodies[-1]["messages"][-1]["content"] if bodies else None


def image_bytes(part) -> bytes:
    url = part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    return base64.b64decode(url.split(",", 1)[1])


def test_image_options_variables_and_fields_are_sent_as_image_parts(ip, run, vision,
                                                                    fake_llm_server, tmp_path):
    path = tmp_path / "red.png"
    path.write_bytes(png_bytes())
    from PIL import Image
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1))
    figure.subplots().plot([1, 2])
    ip.user_ns.update(pil=Image.new("RGB", (2, 2), "blue"), fig=figure, raw=png_bytes((0, 0, 0)))
    ran = run(f"%%llm gpt-4o-mini --image {path} --image pil\nWhat is in {{fig}} and {{raw}}?")
    assert ran.error is None, ran.stderr
    content = last_user_content(fake_llm_server)
    assert [p["type"] for p in content] == ["text", "image_url", "text", "image_url", "text",
                                            "image_url", "image_url"]
    assert [p.get("text") for p in content if p["type"] == "text"] == ["What is in ", " and ", "?"]
    assert image_bytes(content[3]) == png_bytes((0, 0, 0))
    assert image_bytes(content[5]) == path.read_bytes()
    assert sniff(image_bytes(content[1])) == "image/png"  # the figure, saved as PNG
    # the text parts
    assert ip.user_ns["_llm"].text.split() == ["echo:", "What", "is", "in", "and", "?"]


def test_a_model_without_images_or_with_too_few_slots_is_refused_before_sending(ip, run, vision,
                                                                               fake_llm_server,
                                                                               assert_usage_error):
    ip.user_ns["img"] = png_bytes()
    sent = len(fake_llm_server.requests)
    assert_usage_error(run("%%llm text-only --image img\nDescribe"),
                       "'text-only' cannot take this request",
                       "does not take images (inputs: text)")
    assert_usage_error(run("%%llm two-images --image img --image img --image img\nDescribe"),
                       "takes at most 2 images")
    assert len(fake_llm_server.requests) == sent  # nothing left the machine
    assert run("%%llm two-images --image img --image img\nDescribe").error is None


def test_pdf_documents_go_to_models_that_read_them(ip, run, vision, fake_llm_server, tmp_path,
                                                    assert_usage_error):
    report = tmp_path / "report.pdf"
    report.write_bytes(PDF_BYTES)
    assert run(f"%%llm pdf-reader --pdf {report}\nSummarize it").error is None
    part = last_user_content(fake_llm_server)[1]
    assert part["type"] == "file" and part["file"]["filename"] == "report.pdf"
    assert base64.b64decode(part["file"]["file_data"].split(",", 1)[1]) == PDF_BYTES
    assert_usage_error(run(f"%%llm gpt-4o-mini --pdf {report}\nSummarize it"),
                       "does not take PDF documents (inputs: text, images)")
    ip.user_ns["img"] = png_bytes()
    assert_usage_error(run("%%llm pdf-reader --pdf img\nx"),
                       "--pdf img takes a PDF document, not an image")
    assert_usage_error(run("%%llm pdf-reader --pdf missing.pdf\nx"),
                       "--pdf missing.pdf: no file missing.pdf")


def test_the_cache_key_follows_the_bytes(ip, run, vision):
    ip.user_ns["picture"] = png_bytes((10, 10, 10))
    run("%%llm gpt-4o-mini\nDescribe {picture}")
    run("%%llm gpt-4o-mini\nDescribe {picture}")
    assert ip.user_ns["_llm"].cached
    ip.user_ns["picture"] = png_bytes((10, 10, 11))  # one colour value changed
    run("%%llm gpt-4o-mini\nDescribe {picture}")
    assert not ip.user_ns["_llm"].cached


def test_bad_attachments_are_clear_errors(ip, run, vision, assert_usage_error):
    ip.user_ns.update(number=42, junk=b"not an image at all")
    assert_usage_error(run("%%llm gpt-4o-mini --image number\nx"),
                       "--image number is a int, not an image")
    assert_usage_error(run("%%llm gpt-4o-mini --image junk\nx"),
                       "holds bytes that are not PNG, JPEG")
    # a plain {name} that holds text stays text, even when it names a file that is not an image
    ip.user_ns["name"] = "notes.txt"
    assert run("%%llm gpt-4o-mini\nRead {name}").error is None
    assert ip.user_ns["_llm"].text == "echo: Read notes.txt"


def test_the_demo_backend_describes_what_it_received(ip, run, session):
    ip.user_ns["img"] = png_bytes(size=(4, 3))
    ran = run("%%llm gpt-4o-mini --image img -f text\nWhat is this?")  # on demo (offline)
    answer = ip.user_ns["_llm"].text
    assert answer.startswith("[demo answer from llmdeck's offline demo backend")
    assert 'Canned description: you sent 1 attachment with the prompt "What is this?":' in answer
    assert "- PNG image, 4x3 px, 1 KB" in answer
    assert ran.error is None


def test_pil_and_matplotlib_are_imported_only_when_such_an_object_is_met(tmp_path):
    path = tmp_path / "dot.png"
    path.write_bytes(png_bytes())
    code = textwrap.dedent(f"""
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "llmdeck_nb")
        shell.run_cell("%%llm demo --image {path}\\nWhat is it?")
        shell.run_cell("%%llm demo\\nplain text {{1 + 1}}")
        print("LOADED", [m for m in ("PIL", "matplotlib") if m in sys.modules])
    """)
    env = {**os.environ, "LLMDECK_CACHE_DIR": str(tmp_path / "state"), "LLMDECK_PROFILE": "demo"}
    env.pop("LLMDECK_CONFIG_DIR", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Canned description" in done.stdout and "LOADED []" in done.stdout


def test_is_attachment_recognises_objects_without_importing_their_library():
    assert is_attachment(png_bytes()) and is_attachment(PDF_BYTES)
    assert not is_attachment(b"plain bytes") and not is_attachment("just text.png")
    assert attachment_part(PDF_BYTES)["file"]["filename"] == "document.pdf"
