"""Every shipped editor setup under editors/ parses, and says what the server understands.

TOML with tomllib, JSON strictly, Lua with the Neovim binary (`loadfile`), Emacs Lisp with Emacs
when it is installed and always with a small reader that checks the brackets, the VS Code
extension with `npm ci && npm run compile`. Fenced toml/json/elisp blocks of the editors' READMEs
are checked the same way. Settings given to the server are checked against its own parser.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from codestral_lsp import __version__
from codestral_lsp.settings import FIELDS, Settings, SettingsLayers

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
EDITORS = REPO / "editors"
# Build output and installed packages of the VS Code extension (git-ignored), not shipped files.
SKIPPED_DIRS = {"node_modules", "out"}


def shipped_files() -> list[Path]:
    return sorted(
        path
        for path in EDITORS.rglob("*")
        if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(EDITORS).parts)
    )


def files(*suffixes: str) -> list[Path]:
    return [path for path in shipped_files() if path.name.endswith(suffixes)]


def ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(EDITORS)) for path in paths]


TOML_FILES = files(".toml")
JSON_FILES = files(".json", ".sublime-settings")
LUA_FILES = files(".lua")
ELISP_FILES = files(".el")
YAML_FILES = files(".yaml")
# Files no parser applies to: prose, ignore lists, and the TypeScript compiled by the npm test.
UNPARSED = (".md", ".gitignore", ".vscodeignore", ".ts")


def load_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def settings_problems(values: dict[str, Any]) -> list[str]:
    """What the server would complain about, given these values as initializationOptions."""
    return [str(problem) for problem in SettingsLayers({}, "file").set_layer("editor", values)]


def test_every_shipped_file_has_a_check() -> None:
    checked = {*TOML_FILES, *JSON_FILES, *LUA_FILES, *ELISP_FILES, *YAML_FILES}
    unknown = [
        path for path in shipped_files() if path not in checked and not path.name.endswith(UNPARSED)
    ]
    assert not unknown, f"no parser for {ids(unknown)}: add one to this test"
    for editor in ("neovim", "helix", "vscode", "emacs", "zed", "sublime"):
        assert (EDITORS / editor / "README.md").is_file(), editor


def test_main_readme_links_every_editor() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for editor in ("neovim", "helix", "vscode", "emacs", "zed", "sublime"):
        assert f"(editors/{editor}/" in readme, editor


# TOML


@pytest.mark.parametrize("path", TOML_FILES, ids=ids(TOML_FILES))
def test_toml_parses(path: Path) -> None:
    assert isinstance(load_toml(path), dict)


def test_helix_adds_codestral_next_to_each_language_server() -> None:
    config = load_toml(EDITORS / "helix" / "languages.toml")
    server = config["language-server"]["codestral"]
    assert server["command"] == "codestral-lsp"
    assert settings_problems(server["config"]) == []

    languages = {language["name"]: language for language in config["language"]}
    assert {"python", "rust", "typescript", "go", "c"} <= languages.keys()
    for name, language in languages.items():
        entries = language["language-servers"]
        ours = [entry for entry in entries if isinstance(entry, dict)]
        assert ours == [{"name": "codestral", "only-features": ["completion"]}], name
        others = [entry for entry in entries if isinstance(entry, str)]
        assert others, f"{name}: the language's own server must stay in the list"
        assert "codestral" not in others, name


# YAML


@pytest.mark.parametrize("path", YAML_FILES, ids=ids(YAML_FILES))
def test_yaml_parses(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict)


def test_mason_package_installs_this_version_from_pypi() -> None:
    """mason-registry's schema: these keys; a `pypi:` bin naming the console script."""
    package = yaml.safe_load((EDITORS / "mason" / "package.yaml").read_text(encoding="utf-8"))
    required = {"name", "description", "homepage", "licenses", "languages", "categories"}
    assert required | {"source", "bin"} <= package.keys()
    assert package["name"] == "codestral-lsp"
    assert package["categories"] == ["LSP"]
    assert package["source"] == {"id": f"pkg:pypi/codestral-lsp@{__version__}"}
    scripts = load_toml(REPO / "pyproject.toml")["project"]["scripts"]
    assert package["bin"] == {name: "pypi:codestral-lsp" for name in scripts}


# JSON


@pytest.mark.parametrize("path", JSON_FILES, ids=ids(JSON_FILES))
def test_json_parses(path: Path) -> None:
    load_json(path)


def test_sublime_client() -> None:
    client = load_json(EDITORS / "sublime" / "LSP.sublime-settings")["clients"]["codestral"]
    assert client["enabled"] is True
    assert client["command"] == ["codestral-lsp"]
    assert client["selector"] == "source"
    assert settings_problems(client["initializationOptions"]) == []


def test_zed_uses_its_codestral_provider() -> None:
    settings = load_json(EDITORS / "zed" / "settings.json")
    assert settings["edit_predictions"]["provider"] == "codestral"


def version_at_least(spec: str, wanted: tuple[int, ...]) -> bool:
    found = tuple(int(part) for part in re.findall(r"\d+", spec)[: len(wanted)])
    return found >= wanted


def test_vscode_manifest() -> None:
    manifest = load_json(EDITORS / "vscode" / "package.json")
    assert version_at_least(manifest["dependencies"]["vscode-languageclient"], (10, 1))
    # Type-checked by tsc, bundled by esbuild (vsce warns about an unbundled extension).
    scripts = manifest["scripts"]
    assert scripts["compile"] == "npm run check-types && npm run bundle"
    assert scripts["check-types"] == "tsc -p . --noEmit"
    assert scripts["bundle"].startswith(
        "esbuild src/extension.ts --bundle --outfile=out/extension.js"
    )
    assert "--external:vscode" in scripts["bundle"]
    assert scripts["vscode:prepublish"] == "npm run compile"
    assert scripts["package"].startswith("vsce package")
    assert manifest["main"] == "./out/extension.js"
    dev = {"typescript", "@types/vscode", "@types/node", "esbuild", "@vscode/vsce"}
    assert dev <= manifest["devDependencies"].keys()
    # @types/vscode may not be newer than the engine the extension declares.
    engine = manifest["engines"]["vscode"]
    assert version_at_least(engine, (1, 91))
    types = manifest["devDependencies"]["@types/vscode"]
    assert re.findall(r"\d+", types)[:2] == re.findall(r"\d+", engine)[:2]

    properties = manifest["contributes"]["configuration"]["properties"]
    assert properties["codestral.serverPath"]["default"] == "codestral-lsp"
    # Every other contributed setting is sent to the server: it must be one it knows.
    sent = {
        key.removeprefix("codestral."): spec.get("default")
        for key, spec in properties.items()
        if key not in ("codestral.serverPath", "codestral.serverArgs")
    }
    assert set(sent) <= {field.key for field in FIELDS}
    assert settings_problems({k: v for k, v in sent.items() if v is not None}) == []

    lock = load_json(EDITORS / "vscode" / "package-lock.json")
    assert lock["packages"][""]["dependencies"] == manifest["dependencies"]
    assert lock["packages"][""]["devDependencies"] == manifest["devDependencies"]


def server_default_notes() -> list[tuple[str, str]]:
    """(setting, X) for each VS Code setting whose description says "(server default: X)"."""
    manifest = load_json(EDITORS / "vscode" / "package.json")
    properties = manifest["contributes"]["configuration"]["properties"]
    found = []
    for key, spec in properties.items():
        text = spec.get("description", "") + spec.get("markdownDescription", "")
        found += [
            (key.removeprefix("codestral."), n)
            for n in re.findall(r"server default: ([^)]*)", text)
        ]
    return found


@pytest.mark.parametrize(("key", "note"), server_default_notes())
def test_vscode_notes_the_servers_own_defaults(key: str, note: str) -> None:
    [spec] = [f for f in FIELDS if f.key == key]
    real = getattr(Settings(), spec.attr)
    if real is None:
        assert note == "the model's"
    else:
        assert note == (real if isinstance(real, str) else json.dumps(real))


# Settings that decide where the API key goes, or which key: a repository's .vscode/settings.json
# must not set them (it could point the user's stored key at its own host).
KEY_DIRECTING = {"provider", "endpoint", "region", "headers", "caBundle", "apiKey"}
# Settings that decide which program runs: same rule, or a repository runs its own code.
LAUNCH = {"serverPath", "serverArgs"}
# Scopes a workspace cannot override; "machine-overridable" and the default "window" it can.
USER_SCOPES = {"machine", "application"}


def test_vscode_settings_that_direct_the_key_are_not_workspace_settable() -> None:
    assert {field.key for field in FIELDS} >= KEY_DIRECTING
    manifest = load_json(EDITORS / "vscode" / "package.json")
    properties = manifest["contributes"]["configuration"]["properties"]
    for key in sorted(KEY_DIRECTING | LAUNCH):
        # Declared (an undeclared key is read from any settings level), and scoped to the user.
        assert f"codestral.{key}" in properties, f"codestral.{key} is not declared"
        assert properties[f"codestral.{key}"].get("scope") in USER_SCOPES, key

    untrusted = manifest["capabilities"]["untrustedWorkspaces"]
    assert untrusted["supported"] == "limited"
    restricted = set(untrusted["restrictedConfigurations"])
    assert {f"codestral.{key}" for key in KEY_DIRECTING | LAUNCH} <= restricted
    # Nor may an untrusted workspace turn off what keeps files and secrets from going out.
    privacy = {"exclude", "excludeDefaults", "redactSecrets", "respectGitignore"}
    assert {f"codestral.{key}" for key in privacy} <= restricted
    assert restricted <= set(properties), "restricted settings must be declared ones"

    # The extension itself reads those settings from the user's own level only.
    source = (EDITORS / "vscode" / "src" / "extension.ts").read_text(encoding="utf-8")
    declared = re.search(r"const USER_ONLY = new Set\(\[([^\]]*)\]\)", source)
    assert declared is not None, "extension.ts has no USER_ONLY set"
    assert set(re.findall(r"'(\w+)'", declared.group(1))) == KEY_DIRECTING
    assert "inspect(key)?.globalValue" in source


def test_vscode_build_output_is_ignored() -> None:
    ignored = (EDITORS / "vscode" / ".gitignore").read_text(encoding="utf-8").split()
    assert {"node_modules/", "out/"} <= set(ignored)


NPM = shutil.which("npm")


@pytest.mark.skipif(NPM is None, reason="npm is not installed")
@pytest.mark.timeout(300)
def test_vscode_extension_bundles_and_packages_from_a_clean_copy(tmp_path: Path) -> None:
    """`npm ci`, then `npm run package` (vsce, which runs the type check and the bundle)."""
    assert NPM is not None
    work = tmp_path / "vscode"
    shutil.copytree(
        EDITORS / "vscode", work, ignore=shutil.ignore_patterns(*SKIPPED_DIRS, "*.vsix")
    )
    said = ""
    for command in ([NPM, "ci", "--no-audit", "--no-fund"], [NPM, "run", "package"]):
        done = subprocess.run(
            command, cwd=work, capture_output=True, text=True, timeout=240, check=False
        )
        assert done.returncode == 0, f"{' '.join(command[1:])}:\n{done.stdout}\n{done.stderr}"
        said += done.stdout + done.stderr
    assert "you should bundle your extension" not in said, said
    [vsix] = work.glob("codestral-lsp-*.vsix")
    with zipfile.ZipFile(vsix) as package:
        names = set(package.namelist())
    assert "extension/out/extension.js" in names, names
    assert "extension/package.json" in names, names
    assert not [name for name in names if "node_modules" in name or name.endswith(".ts")], names


# Lua

NVIM = shutil.which("nvim")
LOAD_LUA = """
local failed = false
for _, path in ipairs(arg) do
  local chunk, err = loadfile(path)
  if not chunk then
    io.stderr:write(err .. '\\n')
    failed = true
  end
end
os.exit(failed and 1 or 0)
"""


@pytest.mark.skipif(NVIM is None, reason="nvim is not installed")
@pytest.mark.parametrize("path", LUA_FILES, ids=ids(LUA_FILES))
def test_lua_loads_in_neovim(path: Path, tmp_path: Path) -> None:
    assert NVIM is not None
    script = tmp_path / "load.lua"
    script.write_text(LOAD_LUA, encoding="utf-8")
    done = subprocess.run(
        [NVIM, "--headless", "--clean", "-l", str(script), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(NVIM is None, reason="nvim is not installed")
def test_lua_check_rejects_a_broken_file(tmp_path: Path) -> None:
    assert NVIM is not None
    script, broken = tmp_path / "load.lua", tmp_path / "broken.lua"
    script.write_text(LOAD_LUA, encoding="utf-8")
    broken.write_text("vim.lsp.config('x', {\n", encoding="utf-8")
    done = subprocess.run(
        [NVIM, "--headless", "--clean", "-l", str(script), str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1


# Emacs Lisp

# Where a `?` starts a character literal rather than ending a symbol such as `add-on?`.
_TOKEN_START = set(" \t\n([)]'`,@#")


def elisp_bracket_error(text: str) -> str | None:
    """Why the brackets of ``text`` do not balance, or None.

    Knows strings, `;` comments, character literals (`?x`, `?\\(`) and backslash escapes in
    symbols, which is what it takes for code like `(define-key map (kbd "(") ?\\))`.
    """
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)

    def line(at: int) -> int:
        return text.count("\n", 0, at) + 1

    while i < n:
        char = text[i]
        if char == ";":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif char == '"':
            start, i = i, i + 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                return f"line {line(start)}: unterminated string"
            i += 1
        elif char == "?" and (i == 0 or text[i - 1] in _TOKEN_START):
            i += 3 if text[i + 1 : i + 2] == "\\" else 2
        elif char == "\\":
            i += 2
        else:
            if char in "([":
                stack.append((char, i))
            elif char in ")]":
                expected = "(" if char == ")" else "["
                if not stack or stack[-1][0] != expected:
                    return f"line {line(i)}: unexpected {char!r}"
                stack.pop()
            i += 1
    if stack:
        opener, at = stack[-1]
        return f"line {line(at)}: {opener!r} is never closed"
    return None


@pytest.mark.parametrize(
    ("text", "balanced"),
    [
        ('(a "(" ?\\( ?\\) ?\\" ?x) ; (', True),
        ("(lsp-feature? x) [1 2]", True),
        ("(a\\) b)", True),
        ("(a (b)", False),
        ("(a ]", False),
        ('(a ")', False),
        ("(a ?\\))", True),
    ],
)
def test_elisp_bracket_reader(text: str, balanced: bool) -> None:
    assert (elisp_bracket_error(text) is None) is balanced


@pytest.mark.parametrize("path", ELISP_FILES, ids=ids(ELISP_FILES))
def test_elisp_brackets_balance(path: Path) -> None:
    assert elisp_bracket_error(path.read_text(encoding="utf-8")) is None


EMACS = shutil.which("emacs")


@pytest.mark.skipif(EMACS is None, reason="emacs is not installed (the bracket check still runs)")
@pytest.mark.parametrize("path", ELISP_FILES, ids=ids(ELISP_FILES))
def test_elisp_reads_in_emacs(path: Path) -> None:
    assert EMACS is not None
    check = (
        "(with-temp-buffer"
        f" (insert-file-contents {json.dumps(str(path))})"
        " (emacs-lisp-mode) (check-parens)"
        " (goto-char (point-min))"
        " (condition-case nil (while t (read (current-buffer))) (end-of-file nil)))"
    )
    done = subprocess.run(
        [EMACS, "--batch", "-Q", "--eval", check],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# Fenced blocks in the READMEs

FENCE = re.compile(r"^[ \t]*```(\w+)[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
READMES = files("README.md")


def fenced(language: str) -> list[Any]:
    """``pytest.param(block, id=README#n)`` for each fenced block in ``language``."""
    blocks = []
    for path in READMES:
        for number, match in enumerate(FENCE.finditer(path.read_text(encoding="utf-8")), 1):
            if match.group(1) == language:
                where = f"{path.relative_to(EDITORS)}#{number}"
                blocks.append(pytest.param(match.group(2), id=where))
    return blocks


@pytest.mark.parametrize("block", fenced("toml"))
def test_readme_toml_blocks_parse(block: str) -> None:
    tomllib.loads(block)


@pytest.mark.parametrize("block", fenced("json"))
def test_readme_json_blocks_parse(block: str) -> None:
    json.loads(block)


@pytest.mark.parametrize("block", fenced("elisp"))
def test_readme_elisp_blocks_balance(block: str) -> None:
    assert elisp_bracket_error(block) is None
