"""LSP replies for an answer: inline completion items and completion-menu items, or, with no
suggestion, an empty list or ``null`` as the answer's ``Source`` says.

Ranges are in the negotiated position encoding. Every item carries the ``codestral.accepted``
command, which the editor runs when the user accepts it, so the server can count acceptances.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from lsprotocol import types

from codestral_lsp.completer import Answer, Suggestion
from codestral_lsp.positions import Encoding, to_units
from codestral_lsp.shaping import Shaped, before_closers

ACCEPTED = "codestral.accepted"
_WORD = re.compile(r"[A-Za-z0-9_]*$")


def _accept_command(suggestion: Suggestion) -> types.Command:
    chars = len(suggestion.shaped.text)
    return types.Command(
        title="Codestral suggestion accepted",
        command=ACCEPTED,
        arguments=[{"id": suggestion.request_id, "chars": chars}],
    )


def _span(suggestion: Suggestion, start_index: int, encoding: Encoding) -> types.Range:
    """From ``start_index`` on the cursor's line to the end of what the suggestion replaces."""
    end_index = suggestion.cursor.index + suggestion.shaped.replace
    return _line_range(suggestion, start_index, end_index, encoding)


def _line_range(
    suggestion: Suggestion, start_index: int, end_index: int, encoding: Encoding
) -> types.Range:
    cursor = suggestion.cursor
    line = suggestion.doc.line(cursor.line)
    start = types.Position(cursor.line, to_units(line, start_index, encoding))
    end = types.Position(cursor.line, to_units(line, end_index, encoding))
    return types.Range(start, end)


def inline_item(
    suggestion: Suggestion, encoding: Encoding, neovim: bool
) -> types.InlineCompletionItem:
    """An inline item inserting the suggestion at the cursor.

    VS Code, given no range, replaces from the word start to the line end: everyone gets a
    range from the cursor to the end of what the suggestion replaces (closers after it).

    Neovim (0.12) draws an item with a range over the text from the range's start, and one
    without a range at the cursor of the buffer's window, which fails for a hidden buffer
    (``Invalid window id: -1``: it asks for hidden buffers too, neovim#35965). So Neovim's
    item runs from the cursor to the end of the line and carries the rest of the line after
    the suggestion: drawn over that rest, it shows the line as it will be, in any buffer, and
    stays where it was asked for when the cursor moves on. Accepting it leaves the cursor at
    the end of the inserted text, which is the end of the line.
    """
    shaped, cursor = suggestion.shaped, suggestion.cursor
    command = _accept_command(suggestion)
    if neovim:
        line = suggestion.doc.line(cursor.line)
        rest = line[cursor.index + shaped.replace :]
        span = _line_range(suggestion, cursor.index, len(line), encoding)
        return types.InlineCompletionItem(
            insert_text=shaped.text + rest, range=span, command=command
        )
    span = _span(suggestion, cursor.index, encoding)
    return types.InlineCompletionItem(insert_text=shaped.text, range=span, command=command)


def inline_reply(
    answer: Answer, encoding: Encoding, neovim: bool
) -> types.InlineCompletionList | None:
    """The inline result: the suggestion's item; else an empty list (nothing here) or ``null``
    (this request lost: the editor asks again). Neovim always gets a list: it shows an answer
    wherever its cursor is by then and keeps what it shows on ``null``, which a request that
    lost (the text moved on) would leave stale."""
    if answer.suggestion is not None:
        return types.InlineCompletionList(items=[inline_item(answer.suggestion, encoding, neovim)])
    return types.InlineCompletionList(items=[]) if answer.nothing_here or neovim else None


def menu_reply(
    answer: Answer, encoding: Encoding, caps: MenuCaps, neovim: bool
) -> types.CompletionList | None:
    """The menu result: one item; else an empty list (nothing here) or ``null`` (lost)."""
    if answer.suggestion is None:
        return types.CompletionList(is_incomplete=False, items=[]) if answer.nothing_here else None
    item = menu_item(answer.suggestion, encoding, caps, neovim)
    return types.CompletionList(is_incomplete=False, items=[item])


@dataclass(frozen=True)
class MenuCaps:
    """What the client's completion menu can show (from its capabilities)."""

    snippets: bool = False
    markdown: bool = False
    label_details: bool = False

    @classmethod
    def of(cls, capabilities: types.ClientCapabilities) -> MenuCaps:
        document = capabilities.text_document
        completion = document.completion if document else None
        item = completion.completion_item if completion else None
        if item is None:
            return cls()
        formats = item.documentation_format or []
        return cls(
            snippets=bool(item.snippet_support),
            markdown=types.MarkupKind.Markdown in formats,
            label_details=bool(item.label_details_support),
        )


def escape_snippet(text: str) -> str:
    """``text`` as literal snippet text: ``\\``, ``$`` and ``}`` escaped."""
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("}", "\\}")


def menu_label(text: str, one_line: bool) -> str:
    """The label of a menu item inserting ``text`` (from the start of the word typed).

    Clients that do not declare label details may insert the label itself instead of the
    item's edit (Emacs 28's ``completion-at-point`` through lsp-mode 8 does), so for them the
    label is ``text`` itself, every line of it, with no marker. Clients that declare label
    details, and Neovim, apply the edit and draw the label on one line (``one_line``): they
    get the first line of ``text`` that holds more than blanks (stripped when ``text`` starts
    on the next line).
    """
    if not one_line:
        return text
    head, _, rest = text.partition("\n")
    if head.strip():
        return head
    return next((line.strip() for line in rest.split("\n") if line.strip()), head)


def menu_item(
    suggestion: Suggestion, encoding: Encoding, caps: MenuCaps, neovim: bool = False
) -> types.CompletionItem:
    """One completion-menu item holding the whole suggestion.

    The edit starts at the word being typed, so the client's filter (by ``filterText``, which
    starts with that word) keeps the item while the user types on. Neovim's menu inserts an
    item at the cursor (it neither honours the end of the edit's range nor inserts more than
    a plain-text item's first word), so for Neovim the item stops before the closers after the
    cursor and is always a snippet when snippets are supported.
    """
    cursor, shaped = suggestion.cursor, suggestion.shaped
    if neovim and shaped.replace:
        shaped = Shaped(before_closers(shaped, suggestion.around))
        suggestion = dataclasses.replace(suggestion, shaped=shaped)
    line = suggestion.doc.line(cursor.line)
    word = _WORD.search(line[: cursor.index])
    typed = word.group(0) if word else ""
    text = typed + shaped.text
    multiline = "\n" in shaped.text
    as_snippet = caps.snippets and (multiline or neovim)
    span = _span(suggestion, cursor.index - len(typed), encoding)
    docs: str | types.MarkupContent = text  # a plain string: every client takes one
    if caps.markdown:
        language = suggestion.doc.language_id
        docs = types.MarkupContent(types.MarkupKind.Markdown, f"```{language}\n{text}\n```")
    more = " …" if "\n" in text.strip("\n") else None  # lines beyond what the label shows
    return types.CompletionItem(
        label=menu_label(text, one_line=caps.label_details or neovim),
        label_details=types.CompletionItemLabelDetails(detail=more, description="Codestral")
        if caps.label_details
        else None,
        kind=types.CompletionItemKind.Snippet if multiline else types.CompletionItemKind.Text,
        detail="Codestral",
        documentation=docs,
        filter_text=typed + shaped.text.split("\n")[0],
        text_edit=types.TextEdit(range=span, new_text=escape_snippet(text) if as_snippet else text),
        insert_text_format=(
            types.InsertTextFormat.Snippet if as_snippet else types.InsertTextFormat.PlainText
        ),
        # The text carries its own indentation: lsp-mode would otherwise re-indent each line.
        insert_text_mode=types.InsertTextMode.AsIs,
        command=_accept_command(suggestion),
    )
