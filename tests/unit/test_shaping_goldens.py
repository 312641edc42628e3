"""Golden cases for shaping: the document as the editor shows it, the model's raw text, the result.

Each case is a document with ``█`` at the cursor, the raw text Codestral sent back, and the
document as the user sees it after accepting the suggestion (``█`` where the cursor lands: at the
end of the inserted text), or ``None`` when nothing should be shown. ``replaces`` is what the
item's range covers after the cursor (the editor's auto-inserted closers), "" for a plain insert.

Surroundings are built by ``local.surroundings`` from a ``Document``, as the server does.
Expectations are what a careful user wants to see.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from codestral_lsp.documents import Cursor, Document, split_lines
from codestral_lsp.local import surroundings
from codestral_lsp.shaping import Options, Shaped, shape

CURSOR = "█"
LANGUAGES = ("python", "typescript", "go", "rust", "c")


def lines(*parts: str) -> str:
    """A document written one line per argument (an empty last argument: a final newline)."""
    return "\n".join(parts)


def crlf(*parts: str) -> str:
    """The same, with Windows line endings."""
    return "\r\n".join(parts)


def case(
    name: str,
    language: str,
    view: str,
    raw: str,
    want: str | None,
    *,
    replaces: str = "",
    options: Options = Options(),  # noqa: B008 (frozen dataclass: a safe default)
    bug: str = "",
) -> Any:
    """One row of the table; ``bug`` marks an expectation the code does not meet yet."""
    marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {bug}")] if bug else []
    return pytest.param(language, view, raw, want, replaces, options, id=name, marks=marks)


def place(view: str, language: str) -> tuple[Document, Cursor]:
    """The document without the cursor marker, and the cursor where the marker was."""
    at = view.index(CURSOR)
    before = split_lines(view[:at])
    document = Document("file:///golden", view.replace(CURSOR, ""), 1, language)
    return document, Cursor(len(before) - 1, len(before[-1]))


def accept(view: str, shaped: Shaped) -> str:
    """The document after accepting: the text inserted at the cursor over ``replace`` chars.

    Editors insert the item's line breaks as the document's own line ending.
    """
    at = view.index(CURSOR)
    text = view.replace(CURSOR, "")
    eol = "\r\n" if "\r\n" in text else "\n"
    inserted = shaped.text.replace("\n", eol)
    return text[:at] + inserted + CURSOR + text[at + shaped.replace :]


CASES = [
    # --- Python ------------------------------------------------------------------------------
    case(
        "python: the model closes the auto-paired paren too, it is not doubled",
        "python",
        lines(
            "def count(xs):",
            "    return len(█)",
            "",
        ),
        raw="xs)",
        want=lines(
            "def count(xs):",
            "    return len(xs)█",
            "",
        ),
        replaces=")",
    ),
    case(
        "python: the model leaves the closer to the suffix",
        "python",
        lines(
            "def report(done):",
            "    print(█)",
            "",
        ),
        raw='"done:", done',
        want=lines(
            "def report(done):",
            '    print("done:", done)█',
            "",
        ),
        replaces=")",
    ),
    case(
        "python: the suggestion's own paren stays inside the auto-paired one",
        "python",
        lines(
            "xs = [1, 2, 3]",
            "print(█)",
            "",
        ),
        raw="len(xs)",
        want=lines(
            "xs = [1, 2, 3]",
            "print(len(xs))█",
            "",
        ),
        replaces=")",
    ),
    case(
        "python: auto-paired bracket",
        "python",
        lines(
            "primes = [█]",
            "",
        ),
        raw="2, 3, 5, 7]",
        want=lines(
            "primes = [2, 3, 5, 7]█",
            "",
        ),
        replaces="]",
    ),
    case(
        "python: auto-paired single quote",
        "python",
        lines(
            "def default_name():",
            "    return '█'",
            "",
        ),
        raw="anonymous'",
        want=lines(
            "def default_name():",
            "    return 'anonymous'█",
            "",
        ),
        replaces="'",
    ),
    case(
        "python: the first line closes the auto-paired paren, then more lines",
        "python",
        lines(
            "def show(a, b):",
            "    print(█)",
            "",
        ),
        raw="a)\n    print(b)",
        want=lines(
            "def show(a, b):",
            "    print(a)",
            "    print(b)█",
            "",
        ),
        replaces=")",
    ),
    case(
        "python: mid-line, one line only, the repeated end of the line dropped",
        "python",
        lines(
            "def add(█):",
            "    pass",
            "",
        ),
        raw="a, b):\n    return a + b",
        want=lines(
            "def add(a, b█):",
            "    pass",
            "",
        ),
    ),
    # Ambiguous (an edit of the next line, or a repeat of it?): the conservative choice is to
    # show nothing rather than a near-copy of the line below.
    case(
        "python: a first line nearly equal to the next line shows nothing",
        "python",
        lines(
            "def area(radius):",
            "    █",
            "    return math.pi * radius ** 2",
            "",
        ),
        raw="return math.pi * radius**2",
        want=None,
    ),
    case(
        "python: at a line end, cut at the blank line",
        "python",
        lines(
            "def add(a, b):",
            "    █",
            "",
        ),
        raw="return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
        want=lines(
            "def add(a, b):",
            "    return a + b█",
            "",
        ),
    ),
    case(
        "python: at a line end, cut where the block is closed (dedent)",
        "python",
        lines(
            "class Stack:",
            "    def push(self, x):",
            "        █",
            "",
        ),
        raw="self.items.append(x)\n    def pop(self):\n        return self.items.pop()",
        want=lines(
            "class Stack:",
            "    def push(self, x):",
            "        self.items.append(x)█",
            "",
        ),
    ),
    case(
        "python: multiline always keeps going past a blank line",
        "python",
        lines(
            "import math",
            "",
            "█",
        ),
        raw="def double(x):\n    return 2 * x\n\ndef half(x):\n    return x / 2\n",
        want=lines(
            "import math",
            "",
            "def double(x):",
            "    return 2 * x",
            "",
            "def half(x):",
            "    return x / 2█",
        ),
        options=Options(multiline="always"),
    ),
    case(
        "python: stray leading space after 'x = '",
        "python",
        lines(
            "def answer():",
            "    value = █",
            "",
        ),
        raw=" 42",
        want=lines(
            "def answer():",
            "    value = 42█",
            "",
        ),
    ),
    case(
        "python: extra leading newline at the end of the file",
        "python",
        lines(
            "import os",
            "",
            "█",
        ),
        raw="\ndef main():\n    print(os.getcwd())",
        want=lines(
            "import os",
            "",
            "def main():",
            "    print(os.getcwd())█",
        ),
    ),
    case(
        "python: extra leading newline at the end of the file, on an indented line",
        "python",
        lines(
            "def main():",
            "    █",
        ),
        raw="\n    print('hi')",
        want=lines(
            "def main():",
            "    print('hi')█",
        ),
    ),
    case(
        "python: whitespace only shows nothing",
        "python",
        lines(
            "def noop():",
            "    █",
            "",
        ),
        raw="   \n\t\n  ",
        want=None,
    ),
    case(
        "python: trailing whitespace stripped",
        "python",
        lines(
            "def greet(name):",
            "    █",
            "",
        ),
        raw='return f"Hello, {name}!"   \n',
        want=lines(
            "def greet(name):",
            '    return f"Hello, {name}!"█',
            "",
        ),
    ),
    case(
        "python: a line three times at the top level is shown once",
        "python",
        lines(
            "import os",
            "█",
        ),
        raw="import sys\nimport sys\nimport sys\nimport sys",
        want=lines(
            "import os",
            "import sys█",
        ),
    ),
    case(
        "python: a line three times in a block is shown once",
        "python",
        lines(
            "def total(xs):",
            "    t = 0",
            "    █",
        ),
        raw="t += xs[0]\n    t += xs[0]\n    t += xs[0]",
        want=lines(
            "def total(xs):",
            "    t = 0",
            "    t += xs[0]█",
        ),
    ),
    case(
        "python: tabs from the model in a 2-space document",
        "python",
        lines(
            "def sign(x):",
            "  if x == 0:",
            "    return 0",
            "  █",
            "",
        ),
        raw="if x < 0:\n\t\treturn -1\n\treturn 1",
        want=lines(
            "def sign(x):",
            "  if x == 0:",
            "    return 0",
            "  if x < 0:",
            "    return -1",
            "  return 1█",
            "",
        ),
    ),
    case(
        "python: CRLF document, CRLF from the model",
        "python",
        crlf(
            "def mean(xs):",
            "    █",
            "",
        ),
        raw="total = sum(xs)\r\n    return total / len(xs)\r\n",
        want=crlf(
            "def mean(xs):",
            "    total = sum(xs)",
            "    return total / len(xs)█",
            "",
        ),
    ),
    case(
        "python: CRLF document, extra leading CRLF at the end of the file",
        "python",
        crlf(
            "import os",
            "",
            "█",
        ),
        raw="\r\ndef main():\r\n    pass",
        want=crlf(
            "import os",
            "",
            "def main():",
            "    pass█",
        ),
    ),
    # --- TypeScript --------------------------------------------------------------------------
    case(
        "typescript: the model repeats ');' after the cursor",
        "typescript",
        lines(
            "function show(total: number): void {",
            "  console.log(█);",
            "}",
            "",
        ),
        raw="`total: ${total}`);",
        want=lines(
            "function show(total: number): void {",
            "  console.log(`total: ${total}`);█",
            "}",
            "",
        ),
        replaces=");",
    ),
    case(
        "typescript: auto-paired double quote and semicolon",
        "typescript",
        lines(
            'const greeting = "█";',
            "",
        ),
        raw='Hello, world";',
        want=lines(
            'const greeting = "Hello, world";█',
            "",
        ),
        replaces='";',
    ),
    case(
        "typescript: an escaped quote inside the string",
        "typescript",
        lines(
            "const motto = '█';",
            "",
        ),
        raw="it\\'s fine';",
        want=lines(
            "const motto = 'it\\'s fine';█",
            "",
        ),
        replaces="';",
    ),
    case(
        "typescript: single quotes left to the suffix",
        "typescript",
        lines(
            "import { readFile } from '█';",
            "",
        ),
        raw="node:fs/promises",
        want=lines(
            "import { readFile } from 'node:fs/promises';█",
            "",
        ),
        replaces="';",
    ),
    case(
        "typescript: a multi-line body before auto-paired '});' puts them on their own line",
        "typescript",
        lines(
            "items.forEach((item) => {█});",
            "",
        ),
        raw="\n  console.log(item);\n",
        want=lines(
            "items.forEach((item) => {",
            "  console.log(item);",
            "});█",
            "",
        ),
        replaces="});",
    ),
    case(
        "typescript: a multi-line body that closes with '});' itself",
        "typescript",
        lines(
            "items.forEach((item) => {█});",
            "",
        ),
        raw="\n  console.log(item);\n});",
        want=lines(
            "items.forEach((item) => {",
            "  console.log(item);",
            "});█",
            "",
        ),
        replaces="});",
    ),
    case(
        "typescript: the model closes '})' and adds ';' the line did not have",
        "typescript",
        lines(
            'describe("math", () => {█})',
            "",
        ),
        raw='\n  it("adds", () => {\n    expect(1 + 1).toBe(2);\n  });\n});',
        want=lines(
            'describe("math", () => {',
            '  it("adds", () => {',
            "    expect(1 + 1).toBe(2);",
            "  });",
            "});█",
            "",
        ),
        replaces="})",
    ),
    case(
        "typescript: the repeated next line ends a multi-line suggestion",
        "typescript",
        lines(
            "function sum(xs: number[]): number {",
            "  let total = 0;",
            "  █",
            "  return total;",
            "}",
            "",
        ),
        raw="for (const x of xs) {\n    total += x;\n  }\n  return total;\n}",
        want=lines(
            "function sum(xs: number[]): number {",
            "  let total = 0;",
            "  for (const x of xs) {",
            "    total += x;",
            "  }█",
            "  return total;",
            "}",
            "",
        ),
    ),
    case(
        "typescript: mid-line, one line only",
        "typescript",
        lines(
            "const area = width * █ + margin;",
            "",
        ),
        raw="height\nconst perimeter = 2 * (width + height);",
        want=lines(
            "const area = width * height█ + margin;",
            "",
        ),
    ),
    case(
        "typescript: mid-line, the model repeats the rest of the line",
        "typescript",
        lines(
            "const total = █ + tax;",
            "",
        ),
        raw="price + tax;",
        want=lines(
            "const total = price█ + tax;",
            "",
        ),
    ),
    case(
        "typescript: at a line end, cut at maxLines",
        "typescript",
        lines(
            "class Point {",
            "  █",
            "}",
            "",
        ),
        raw="x: number;\n  y: number;\n  z: number;\n  w: number;\n  label: string;",
        want=lines(
            "class Point {",
            "  x: number;",
            "  y: number;",
            "  z: number;█",
            "}",
            "",
        ),
        options=Options(max_lines=3),
    ),
    case(
        "typescript: multiline never shows the first line",
        "typescript",
        lines(
            "function double(n: number): number {",
            "  █",
            "}",
            "",
        ),
        raw="const result = n * 2;\n  return result;",
        want=lines(
            "function double(n: number): number {",
            "  const result = n * 2;█",
            "}",
            "",
        ),
        options=Options(multiline="never"),
    ),
    case(
        "typescript: stray leading space after '= '",
        "typescript",
        lines(
            "const limit = █",
            "",
        ),
        raw=" 100;",
        want=lines(
            "const limit = 100;█",
            "",
        ),
    ),
    case(
        "typescript: stray leading space after ', ' inside auto-paired parens",
        "typescript",
        lines(
            "const biggest = Math.max(a, █);",
            "",
        ),
        raw=" b",
        want=lines(
            "const biggest = Math.max(a, b);█",
            "",
        ),
        replaces=");",
    ),
    case(
        "typescript: a block twice in a function body is shown once",
        "typescript",
        lines(
            "function banner(): void {",
            "  █",
            "}",
            "",
        ),
        raw='console.log("=====");\n  console.log("hello");\n'
        '  console.log("=====");\n  console.log("hello");',
        want=lines(
            "function banner(): void {",
            '  console.log("=====");',
            '  console.log("hello");█',
            "}",
            "",
        ),
    ),
    # --- Go (tabs) ---------------------------------------------------------------------------
    case(
        "go: spaces from the model become tabs",
        "go",
        lines(
            "func sum(xs []int) int {",
            "\ttotal := 0",
            "\t█",
            "\treturn total",
            "}",
            "",
        ),
        raw="for _, x := range xs {\n        total += x\n    }\n    return total\n}",
        want=lines(
            "func sum(xs []int) int {",
            "\ttotal := 0",
            "\tfor _, x := range xs {",
            "\t\ttotal += x",
            "\t}█",
            "\treturn total",
            "}",
            "",
        ),
    ),
    case(
        "go: a nested block's closing brace before the function's is kept",
        "go",
        lines(
            "func sum(xs []int) (total int) {",
            "\t█",
            "}",
            "",
        ),
        raw="for _, x := range xs {\n\t\ttotal += x\n\t}\n\treturn\n}",
        want=lines(
            "func sum(xs []int) (total int) {",
            "\tfor _, x := range xs {",
            "\t\ttotal += x",
            "\t}",
            "\treturn█",
            "}",
            "",
        ),
    ),
    case(
        "go: spaces from the model become tabs on the first line too (cursor at column 0)",
        "go",
        lines(
            "func main() {",
            "\tname := os.Args[1]",
            "█",
            "}",
            "",
        ),
        raw='    fmt.Println("hi", name)\n    os.Exit(0)',
        want=lines(
            "func main() {",
            "\tname := os.Args[1]",
            '\tfmt.Println("hi", name)',
            "\tos.Exit(0)█",
            "}",
            "",
        ),
    ),
    case(
        "go: the function's closing brace is already there (a file with nothing indented yet)",
        "go",
        lines(
            "func main() {█",
            "}",
            "",
        ),
        raw='\n\tfmt.Println("hello")\n}',
        want=lines(
            "func main() {",
            '\tfmt.Println("hello")█',
            "}",
            "",
        ),
    ),
    case(
        "go: an inner block's closing brace is not the function's",
        "go",
        lines(
            "func check(err error) {",
            "\tif err != nil {█",
            "}",
            "",
        ),
        raw="\n\t\tlog.Fatal(err)\n\t}",
        want=lines(
            "func check(err error) {",
            "\tif err != nil {",
            "\t\tlog.Fatal(err)",
            "\t}█",
            "}",
            "",
        ),
    ),
    case(
        "go: the model closes the auto-paired paren too",
        "go",
        lines(
            "func show(total int) {",
            "\tfmt.Println(█)",
            "}",
            "",
        ),
        raw='"total:", total)',
        want=lines(
            "func show(total int) {",
            '\tfmt.Println("total:", total)█',
            "}",
            "",
        ),
        replaces=")",
    ),
    case(
        "go: the suggestion's own paren stays inside the auto-paired one",
        "go",
        lines(
            "func shout(name string) {",
            "\tfmt.Println(█)",
            "}",
            "",
        ),
        raw="strings.ToUpper(name)",
        want=lines(
            "func shout(name string) {",
            "\tfmt.Println(strings.ToUpper(name))█",
            "}",
            "",
        ),
        replaces=")",
    ),
    case(
        "go: at a line end, cut where the block is closed (dedent)",
        "go",
        lines(
            "func (s *Stack) Push(x int) {",
            "\t█",
            "}",
            "",
        ),
        raw="s.items = append(s.items, x)\n}\n\nfunc (s *Stack) Pop() int {",
        want=lines(
            "func (s *Stack) Push(x int) {",
            "\ts.items = append(s.items, x)█",
            "}",
            "",
        ),
    ),
    # Ambiguous (code may repeat a block on purpose): conservative, show it once; the user
    # accepts again to get the second copy.
    case(
        "go: a block twice is shown once",
        "go",
        lines(
            "func main() {",
            "\tstart := time.Now()█",
            "}",
            "",
        ),
        raw='\n\tfmt.Println("tick")\n\ttime.Sleep(time.Second)'
        '\n\tfmt.Println("tick")\n\ttime.Sleep(time.Second)\n}',
        want=lines(
            "func main() {",
            "\tstart := time.Now()",
            '\tfmt.Println("tick")',
            "\ttime.Sleep(time.Second)█",
            "}",
            "",
        ),
    ),
    case(
        "go: mid-line, the model repeats the rest of the line",
        "go",
        lines(
            "func first(items []string) string {",
            "\tif len(█) > 0 {",
            "",
        ),
        raw="items) > 0 {\n\t\treturn items[0]",
        want=lines(
            "func first(items []string) string {",
            "\tif len(items█) > 0 {",
            "",
        ),
    ),
    case(
        "go: auto-paired backquote",
        "go",
        lines(
            "const query = `█`",
            "",
        ),
        raw="SELECT id FROM users`",
        want=lines(
            "const query = `SELECT id FROM users`█",
            "",
        ),
        replaces="`",
    ),
    case(
        "go: whitespace only shows nothing",
        "go",
        lines(
            "func main() {",
            "\t█",
            "}",
            "",
        ),
        raw="\n\t\n",
        want=None,
    ),
    # --- Rust --------------------------------------------------------------------------------
    case(
        "rust: the model repeats ');' after the cursor",
        "rust",
        lines(
            "fn show(total: u32) {",
            '    println!("{}", █);',
            "}",
            "",
        ),
        raw="total);",
        want=lines(
            "fn show(total: u32) {",
            '    println!("{}", total);█',
            "}",
            "",
        ),
        replaces=");",
    ),
    case(
        "rust: the suggestion's own paren stays, the repeated one goes",
        "rust",
        lines(
            "fn main() {",
            '    println!("{}", █);',
            "}",
            "",
        ),
        raw="add(1, 2));",
        want=lines(
            "fn main() {",
            '    println!("{}", add(1, 2));█',
            "}",
            "",
        ),
        replaces=");",
    ),
    case(
        "rust: a multi-line body inside auto-paired braces",
        "rust",
        lines(
            "fn main() {█}",
            "",
        ),
        raw='\n    println!("Hello, world!");\n',
        want=lines(
            "fn main() {",
            '    println!("Hello, world!");',
            "}█",
            "",
        ),
        replaces="}",
    ),
    case(
        "rust: auto-paired char quote",
        "rust",
        lines(
            "fn separator() -> char {",
            "    let c = '█';",
            "    c",
            "}",
            "",
        ),
        raw=",';",
        want=lines(
            "fn separator() -> char {",
            "    let c = ',';█",
            "    c",
            "}",
            "",
        ),
        replaces="';",
    ),
    case(
        "rust: a line nearly equal to the next line ends the suggestion",
        "rust",
        lines(
            "fn report(result: f64) {",
            "    █",
            '    println!("area: {}", result);',
            "}",
            "",
        ),
        raw='debug_assert!(result >= 0.0);\n    println!("area = {}", result);\n}',
        want=lines(
            "fn report(result: f64) {",
            "    debug_assert!(result >= 0.0);█",
            '    println!("area: {}", result);',
            "}",
            "",
        ),
    ),
    case(
        "rust: the model answers only the rest of the line: nothing to show",
        "rust",
        lines(
            "fn main() {",
            "    let v = scale(█, 2);",
            "}",
            "",
        ),
        raw=", 2);",
        want=None,
    ),
    case(
        "rust: closers after a blank inside auto-paired '{ }'",
        "rust",
        lines(
            "fn origin() -> Point {",
            "    let p = Point { x: 0, █ };",
            "    p",
            "}",
            "",
        ),
        raw="y: 0 }",
        want=lines(
            "fn origin() -> Point {",
            "    let p = Point { x: 0, y: 0 };█",
            "    p",
            "}",
            "",
        ),
        replaces=" };",
    ),
    case(
        "rust: multiline always is still one line mid-line",
        "rust",
        lines(
            "fn main() {",
            "    let v = scale(█, 2);",
            "}",
            "",
        ),
        raw="width\n    let w = 1;",
        want=lines(
            "fn main() {",
            "    let v = scale(width█, 2);",
            "}",
            "",
        ),
        options=Options(multiline="always"),
    ),
    case(
        "rust: stray leading space and trailing whitespace",
        "rust",
        lines(
            "fn main() {",
            "    let name = █",
            "}",
            "",
        ),
        raw=' String::from("ferris");  \n',
        want=lines(
            "fn main() {",
            '    let name = String::from("ferris");█',
            "}",
            "",
        ),
    ),
    case(
        "rust: a line three times at the top level is shown once",
        "rust",
        lines(
            "use std::io;",
            "█",
        ),
        raw="use std::fs;\nuse std::fs;\nuse std::fs;",
        want=lines(
            "use std::io;",
            "use std::fs;█",
        ),
    ),
    case(
        "rust: at a line end, cut where the block is closed (dedent)",
        "rust",
        lines(
            "impl Point {",
            "    fn new(x: i32, y: i32) -> Self {",
            "        █",
            "    }",
            "}",
            "",
        ),
        raw="Self { x, y }\n    }\n\n    fn origin() -> Self {",
        want=lines(
            "impl Point {",
            "    fn new(x: i32, y: i32) -> Self {",
            "        Self { x, y }█",
            "    }",
            "}",
            "",
        ),
    ),
    case(
        "rust: multiline never shows the first line",
        "rust",
        lines(
            "fn main() {",
            "    █",
            "}",
            "",
        ),
        raw='let x = 5;\n    println!("{}", x);',
        want=lines(
            "fn main() {",
            "    let x = 5;█",
            "}",
            "",
        ),
        options=Options(multiline="never"),
    ),
    case(
        "rust: CRLF document, cut where the block is closed",
        "rust",
        crlf(
            "fn main() {",
            "    █",
            "}",
            "",
        ),
        raw='let x = 1;\r\n    println!("{}", x);\r\n}\r\n',
        want=crlf(
            "fn main() {",
            "    let x = 1;",
            '    println!("{}", x);█',
            "}",
            "",
        ),
    ),
    # --- C -----------------------------------------------------------------------------------
    case(
        "c: the model repeats ');' after the cursor",
        "c",
        lines(
            "void show(int count) {",
            '    printf("%d\\n", █);',
            "}",
            "",
        ),
        raw="count);",
        want=lines(
            "void show(int count) {",
            '    printf("%d\\n", count);█',
            "}",
            "",
        ),
        replaces=");",
    ),
    case(
        "c: the model closes the auto-paired paren and adds ';'",
        "c",
        lines(
            "void done(void) {",
            "    puts(█)",
            "}",
            "",
        ),
        raw='"done");',
        want=lines(
            "void done(void) {",
            '    puts("done");█',
            "}",
            "",
        ),
        replaces=")",
    ),
    case(
        "c: the model closes both auto-paired parens, one of them mid-text",
        "c",
        lines(
            "int ready(const char *buf, int len) {",
            "    if (is_valid(█))",
            "        return 1;",
            "    return 0;",
            "}",
            "",
        ),
        raw="buf) && len > 0)",
        want=lines(
            "int ready(const char *buf, int len) {",
            "    if (is_valid(buf) && len > 0)█",
            "        return 1;",
            "    return 0;",
            "}",
            "",
        ),
        replaces="))",
    ),
    case(
        "c: auto-paired char quote",
        "c",
        lines(
            "int is_newline(char c) {",
            "    return c == '█';",
            "}",
            "",
        ),
        raw="\\n';",
        want=lines(
            "int is_newline(char c) {",
            "    return c == '\\n';█",
            "}",
            "",
        ),
        replaces="';",
    ),
    case(
        "c: the model returns only the closers: nothing to show",
        "c",
        lines(
            "void release(char *buf) {",
            "    free(█);",
            "}",
            "",
        ),
        raw=");",
        want=None,
    ),
    case(
        "c: tabs document, spaces from the model",
        "c",
        lines(
            "int sum(int *xs, int n)",
            "{",
            "\tint total = 0;",
            "\t█",
            "}",
            "",
        ),
        raw="for (int i = 0; i < n; i++)\n        total += xs[i];\n    return total;",
        want=lines(
            "int sum(int *xs, int n)",
            "{",
            "\tint total = 0;",
            "\tfor (int i = 0; i < n; i++)",
            "\t\ttotal += xs[i];",
            "\treturn total;█",
            "}",
            "",
        ),
    ),
    case(
        "c: the repeated next line ends the suggestion",
        "c",
        lines(
            "int main(void)",
            "{",
            "    █",
            "    return 0;",
            "}",
            "",
        ),
        raw='printf("hello\\n");\n    return 0;\n}',
        want=lines(
            "int main(void)",
            "{",
            '    printf("hello\\n");█',
            "    return 0;",
            "}",
            "",
        ),
    ),
    case(
        "c: at a line end, cut where the block is closed (dedent)",
        "c",
        lines(
            "int twice(int n) {",
            "    █",
            "}",
            "",
        ),
        raw="return 2 * n;\n}\n\nint thrice(int n) {\n    return 3 * n;\n}",
        want=lines(
            "int twice(int n) {",
            "    return 2 * n;█",
            "}",
            "",
        ),
    ),
    case(
        "c: a block opened on the cursor's line ends where it is closed",
        "c",
        lines(
            "int checked(int n) {",
            "    if (n < 0) {█",
            "    return n;",
            "}",
            "",
        ),
        raw="\n        return -1;\n    }\n    int r = n * 2;\n    return r;",
        want=lines(
            "int checked(int n) {",
            "    if (n < 0) {",
            "        return -1;",
            "    }█",
            "    return n;",
            "}",
            "",
        ),
    ),
    case(
        "c: extra leading newline at the end of the file",
        "c",
        lines(
            "#include <stdio.h>",
            "",
            "█",
        ),
        raw="\nint main(void)\n{\n    return 0;\n}",
        want=lines(
            "#include <stdio.h>",
            "",
            "int main(void)",
            "{",
            "    return 0;",
            "}█",
        ),
    ),
    case(
        "c: a line three times at the top level is shown once",
        "c",
        lines(
            "#include <stdio.h>",
            "█",
        ),
        raw="#include <stdlib.h>\n#include <stdlib.h>\n#include <stdlib.h>\n#include <stdlib.h>",
        want=lines(
            "#include <stdio.h>",
            "#include <stdlib.h>█",
        ),
    ),
    # A lone space after "= " is the stray-space quirk, not a suggestion: nothing to show.
    case(
        "c: stray space then nothing: nothing to show",
        "c",
        lines(
            "int main(void) {",
            "    int x = █",
            "}",
            "",
        ),
        raw=" \n",
        want=None,
    ),
    # --- a block's own continuation and end, at a line end (issue 12) ------------------------
    case(
        "python: except after a try body is the block's continuation, kept",
        "python",
        lines(
            "def get(d, k):",
            "    try:",
            "        return d[k]█",
            "",
        ),
        raw="\n    except KeyError:\n        return None",
        want=lines(
            "def get(d, k):",
            "    try:",
            "        return d[k]",
            "    except KeyError:",
            "        return None█",
            "",
        ),
    ),
    case(
        "python: else is kept, the statement after the if is not",
        "python",
        lines(
            "def sign(x):",
            "    if x < 0:",
            "        return -1█",
            "",
        ),
        raw="\n    else:\n        return 1\nprint(sign(2))",
        want=lines(
            "def sign(x):",
            "    if x < 0:",
            "        return -1",
            "    else:",
            "        return 1█",
            "",
        ),
    ),
    case(
        "python: elif and else are kept, the return after them is not",
        "python",
        lines(
            "def describe(n):",
            "    if n == 0:",
            '        label = "zero"█',
            "",
        ),
        raw='\n    elif n < 0:\n        label = "negative"\n    else:\n        label = "positive"'
        "\n    return label",
        want=lines(
            "def describe(n):",
            "    if n == 0:",
            '        label = "zero"',
            "    elif n < 0:",
            '        label = "negative"',
            "    else:",
            '        label = "positive"█',
            "",
        ),
    ),
    case(
        "python: finally is kept",
        "python",
        lines(
            "def read(path):",
            "    f = open(path)",
            "    try:",
            "        return f.read()█",
            "",
        ),
        raw="\n    finally:\n        f.close()",
        want=lines(
            "def read(path):",
            "    f = open(path)",
            "    try:",
            "        return f.read()",
            "    finally:",
            "        f.close()█",
            "",
        ),
    ),
    case(
        "python: the literal's closing brace is kept, the statement after it is not",
        "python",
        lines(
            "COLORS = {",
            '    "red": 1,█',
            "",
        ),
        raw='\n    "green": 2,\n}\nprint(COLORS)',
        want=lines(
            "COLORS = {",
            '    "red": 1,',
            '    "green": 2,',
            "}█",
            "",
        ),
    ),
    case(
        "python: a name that starts like a keyword is not a continuation",
        "python",
        lines(
            "def setup():",
            "    x = 1█",
            "",
        ),
        raw="\ndefault = {}",
        want=None,
    ),
    case(
        "typescript: catch and the closing braces are kept",
        "typescript",
        lines(
            "function parse(s: string): number {",
            "  try {",
            "    return JSON.parse(s);█",
            "",
        ),
        raw="\n  } catch (e) {\n    return 0;\n  }\n}",
        want=lines(
            "function parse(s: string): number {",
            "  try {",
            "    return JSON.parse(s);",
            "  } catch (e) {",
            "    return 0;",
            "  }",
            "}█",
            "",
        ),
    ),
    case(
        "typescript: finally is kept, the statement after the try is not",
        "typescript",
        lines(
            "async function load(url: string) {",
            "  const spinner = start();",
            "  try {",
            "    await fetch(url);█",
            "",
        ),
        raw="\n  } finally {\n    spinner.stop();\n  }\n  return done;",
        want=lines(
            "async function load(url: string) {",
            "  const spinner = start();",
            "  try {",
            "    await fetch(url);",
            "  } finally {",
            "    spinner.stop();",
            "  }█",
            "",
        ),
    ),
    case(
        "typescript: the callbacks' closing lines are kept",
        "typescript",
        lines(
            'describe("sum", () => {',
            '  it("adds", () => {',
            "    expect(sum(1, 2)).toBe(3);█",
            "",
        ),
        raw="\n  });\n});",
        want=lines(
            'describe("sum", () => {',
            '  it("adds", () => {',
            "    expect(sum(1, 2)).toBe(3);",
            "  });",
            "});█",
            "",
        ),
    ),
    case(
        "typescript: else when the document already closes the block",
        "typescript",
        lines(
            "function sign(x: number): number {",
            "  if (x < 0) {",
            "    return -1;█",
            "  }",
            "}",
            "",
        ),
        raw="\n  } else {\n    return 1;\n  }",
        want=lines(
            "function sign(x: number): number {",
            "  if (x < 0) {",
            "    return -1;",
            "  } else {",
            "    return 1;█",
            "  }",
            "}",
            "",
        ),
    ),
    case(
        "go: else and the closing braces are kept",
        "go",
        lines(
            "func abs(x int) int {",
            "\tif x < 0 {",
            "\t\treturn -x█",
            "",
        ),
        raw="\n\t} else {\n\t\treturn x\n\t}\n}",
        want=lines(
            "func abs(x int) int {",
            "\tif x < 0 {",
            "\t\treturn -x",
            "\t} else {",
            "\t\treturn x",
            "\t}",
            "}█",
            "",
        ),
    ),
    case(
        "go: the switch's next cases are kept",
        "go",
        lines(
            "func name(n int) string {",
            "\tswitch n {",
            "\tcase 0:",
            '\t\treturn "zero"█',
            "",
        ),
        raw='\n\tcase 1:\n\t\treturn "one"\n\tdefault:\n\t\treturn "many"\n\t}',
        want=lines(
            "func name(n int) string {",
            "\tswitch n {",
            "\tcase 0:",
            '\t\treturn "zero"',
            "\tcase 1:",
            '\t\treturn "one"',
            "\tdefault:",
            '\t\treturn "many"',
            "\t}█",
            "",
        ),
    ),
    case(
        "go: a block opened on the cursor's line goes on through its else",
        "go",
        lines(
            "func report(ok bool) {",
            "\tif ok {█",
            "",
        ),
        raw="\n\t\tyes()\n\t} else {\n\t\tno()\n\t}\n\tdone()",
        want=lines(
            "func report(ok bool) {",
            "\tif ok {",
            "\t\tyes()",
            "\t} else {",
            "\t\tno()",
            "\t}█",
            "",
        ),
    ),
    case(
        "rust: else and the let's closing brace are kept, the next statement is not",
        "rust",
        lines(
            "fn label(n: i32) -> &'static str {",
            "    let s = if n < 0 {",
            '        "negative"█',
            "",
        ),
        raw='\n    } else {\n        "positive"\n    };\n    s\n}',
        want=lines(
            "fn label(n: i32) -> &'static str {",
            "    let s = if n < 0 {",
            '        "negative"',
            "    } else {",
            '        "positive"',
            "    };█",
            "",
        ),
    ),
    case(
        "c: else if is kept, the statement after the if is not",
        "c",
        lines(
            "int clamp(int x) {",
            "    if (x > 10) {",
            "        return 10;█",
            "",
        ),
        raw="\n    } else if (x < 0) {\n        return 0;\n    }\n    return x;\n}",
        want=lines(
            "int clamp(int x) {",
            "    if (x > 10) {",
            "        return 10;",
            "    } else if (x < 0) {",
            "        return 0;",
            "    }█",
            "",
        ),
    ),
    case(
        "c: a do-while's closing line is kept",
        "c",
        lines(
            "void drain(int *n) {",
            "    do {",
            "        *n -= 1;█",
            "",
        ),
        raw="\n    } while (*n > 0);\n    log_done();",
        want=lines(
            "void drain(int *n) {",
            "    do {",
            "        *n -= 1;",
            "    } while (*n > 0);█",
            "",
        ),
    ),
]


@pytest.mark.parametrize(("language", "view", "raw", "want", "replaces", "options"), CASES)
def test_golden(
    language: str, view: str, raw: str, want: str | None, replaces: str, options: Options
) -> None:
    document, cursor = place(view, language)
    at = surroundings(document, cursor)
    shaped = shape(raw, at, options)
    if want is None:
        assert shaped is None
        return
    assert shaped is not None
    assert "\r" not in shaped.text  # line breaks are "\n"; the editor writes its own
    assert at.tail[: shaped.replace] == replaces
    assert accept(view, shaped) == want


def test_table_covers_every_language() -> None:
    counts = Counter(param.values[0] for param in CASES)
    assert set(counts) == set(LANGUAGES)
    assert min(counts.values()) >= 6
    assert sum(counts.values()) >= 40
