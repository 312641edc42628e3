"""The completion-menu fallback and shaped items, end to end, for Helix- and VS Code-like ones."""

from __future__ import annotations

from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import ServerFactory, inline, items, open_doc, units
from tests.fake_codestral import FakeCodestral

URI = "file:///w/m.py"
FAST = {"debounceMs": 0, "debounceMaxMs": 0}


def capabilities(
    *, inline_completion: bool, snippets: bool, encodings: list[str] | None, rich: bool = True
) -> types.ClientCapabilities:
    """A client like Helix (utf-8, snippets, no inline completion) or VS Code (utf-16)."""
    completion = types.CompletionClientCapabilities(
        completion_item=types.ClientCompletionItemOptions(
            snippet_support=snippets,
            documentation_format=[types.MarkupKind.Markdown] if rich else None,
            label_details_support=rich,
        )
    )
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=encodings),
        text_document=types.TextDocumentClientCapabilities(
            completion=completion,
            inline_completion=(
                types.InlineCompletionClientCapabilities() if inline_completion else None
            ),
        ),
    )


HELIX = capabilities(inline_completion=False, snippets=True, encodings=["utf-8", "utf-32"])
VSCODE_MENU = capabilities(inline_completion=False, snippets=False, encodings=None, rich=False)
VSCODE = capabilities(inline_completion=True, snippets=True, encodings=None)


async def menu(client: LanguageClient, uri: str, line: int, character: int) -> Any:
    return await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )
    )


def span(line: int, start: int, end: int) -> types.Range:
    return types.Range(
        start=types.Position(line=line, character=start),
        end=types.Position(line=line, character=end),
    )


@pytest.mark.parametrize(
    ("caps", "encoding"), [(HELIX, "utf-8"), (VSCODE_MENU, "utf-16")], ids=["helix", "vscode"]
)
async def test_menu_item_holds_the_suggestion_with_the_right_edit(
    start_server: ServerFactory,
    fake_codestral: FakeCodestral,
    caps: types.ClientCapabilities,
    encoding: str,
) -> None:
    fake_codestral.completion = "urn total"
    head = '    s = "héllo 😀"; ret'
    async with start_server(init_options=FAST, capabilities=caps) as client:
        open_doc(client, URI, f"def f(total):\n{head}\n")
        result = await menu(client, URI, 1, units(head, encoding))
    assert isinstance(result, types.CompletionList)
    assert result.is_incomplete is False
    [item] = result.items
    assert item.text_edit == types.TextEdit(
        range=span(1, units(head[:-3], encoding), units(head, encoding)),
        new_text="return total",
    )
    assert item.filter_text == "return total"  # starts with the word typed: not filtered away
    assert item.insert_text_format == types.InsertTextFormat.PlainText
    # The label is the text from the word start: a client may insert it (Emacs 28's C-M-i).
    assert item.label == "return total"
    if caps is HELIX:  # markdown and label details declared
        assert item.label_details == types.CompletionItemLabelDetails(description="Codestral")
        assert isinstance(item.documentation, types.MarkupContent)
        assert item.documentation.kind == types.MarkupKind.Markdown
        assert "return total" in item.documentation.value
    else:
        assert item.label_details is None
        assert item.detail == "Codestral"
        assert item.documentation == "return total"
    assert item.command is not None
    assert item.command.command == "codestral.accepted"


@pytest.mark.parametrize("snippets", [True, False])
async def test_multi_line_suggestion_is_a_snippet_when_the_client_can(
    start_server: ServerFactory, fake_codestral: FakeCodestral, snippets: bool
) -> None:
    fake_codestral.completion = '\n    price = "$5"  # {x} \\n\n    return price'
    caps = capabilities(inline_completion=False, snippets=snippets, encodings=["utf-8"])
    async with start_server(init_options=FAST, capabilities=caps) as client:
        open_doc(client, URI, "def price():")
        result = await menu(client, URI, 0, 12)
    [item] = result.items
    raw = '\n    price = "$5"  # {x} \\n\n    return price'
    if snippets:
        assert item.insert_text_format == types.InsertTextFormat.Snippet
        assert item.text_edit.new_text == raw.replace("\\", "\\\\").replace("$", "\\$").replace(
            "}", "\\}"
        )
    else:
        assert item.insert_text_format == types.InsertTextFormat.PlainText
        assert item.text_edit.new_text == raw
    # One line in the menu (label details are declared), the rest behind a marker.
    assert item.label == 'price = "$5"  # {x} \\n'
    assert item.label_details == types.CompletionItemLabelDetails(
        detail=" …", description="Codestral"
    )


async def test_without_label_details_the_label_is_the_whole_suggestion(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    """Emacs 28's completion-at-point (lsp-mode 8) inserts the label: every line of it."""
    fake_codestral.completion = "\n    total = a + b\n    return total"
    async with start_server(init_options=FAST, capabilities=VSCODE_MENU) as client:
        open_doc(client, URI, "def add(a, b):")
        [item] = (await menu(client, URI, 0, 14)).items
    assert item.label == "\n    total = a + b\n    return total"
    assert item.label == item.text_edit.new_text
    assert item.insert_text_mode == types.InsertTextMode.AsIs  # no re-indenting by the client


async def test_clients_with_inline_completion_get_no_menu_unless_asked(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    async with start_server(init_options=FAST, capabilities=VSCODE) as client:
        open_doc(client, URI, "x = ")
        assert await menu(client, URI, 0, 4) is None
    assert fake_codestral.requests == []
    async with start_server(
        init_options={**FAST, "completionFallback": "on"}, capabilities=VSCODE
    ) as client:
        open_doc(client, URI, "x = ")
        assert (await menu(client, URI, 0, 4)).items
    async with start_server(
        init_options={**FAST, "completionFallback": "off"}, capabilities=HELIX
    ) as client:
        open_doc(client, URI, "x = ")
        assert await menu(client, URI, 0, 4) is None


async def test_auto_inserted_closer_is_replaced_not_doubled(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.completion = '"hi")'  # the model repeats the closer already there
    async with start_server(init_options=FAST, capabilities=VSCODE) as client:
        open_doc(client, URI, "print()\n")
        [item] = items(await inline(client, URI, 0, 6))
    assert item.insert_text == '"hi")'
    assert item.range == span(0, 6, 7)  # covers the ")" it replaces


async def test_mid_line_suggestion_is_one_line(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.completion = "a, b) + 1\nprint(total)\n"
    async with start_server(init_options=FAST, capabilities=VSCODE) as client:
        open_doc(client, URI, "total = f() + 1\n")
        [item] = items(await inline(client, URI, 0, 10))
    assert item.insert_text == "a, b"  # one line, without the repeated ") + 1"


async def test_accepting_is_counted(
    start_server: ServerFactory, fake_codestral: FakeCodestral
) -> None:
    fake_codestral.completion = "compute()"
    async with start_server(init_options=FAST, capabilities=VSCODE) as client:
        open_doc(client, URI, "x = ")
        [item] = items(await inline(client, URI, 0, 4))
        assert item.command is not None
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=item.command.command, arguments=item.command.arguments
            )
        )
        numbers = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codestral.stats")
        )
    assert numbers["suggestions"] == {"shown": 1, "accepted": 1, "acceptedChars": 9}
