"""``gwwatch completion bash|zsh``: a shell completion script, written out from the argparse
parser itself.

Hand-written rather than a library: argcomplete runs Python on every TAB (its hook imports the
program) and would be a runtime dependency of the image; shtab would be one too. What gwwatch
needs is small and static — commands, flags, the choices of a flag, files for path-valued flags
and arguments, kubeconfig contexts for ``--context`` — and generating it from
:func:`gwwatch.cli.build_parser` means a new flag is completed without anyone touching this
file. Both scripts complete ``gwwatch`` and ``kubectl-gwwatch``.

``kubectl gwwatch <TAB>`` is kubectl's own completion: kubectl (1.26 and later) runs
``kubectl_complete-gwwatch ARGS... WORD`` from ``PATH`` and reads cobra's answer (one candidate a
line, then ``:DIRECTIVE``); :func:`kubectl_complete` is that program, from the same parser.

    source <(gwwatch completion bash)                              # bash, this shell
    gwwatch completion zsh > "${fpath[1]}/_gwwatch"                # zsh, then compinit
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Final

from gwwatch.cli.exits import ExitCode

__all__ = ["SHELLS", "Command", "Option", "add_parser", "bash", "commands", "complete",
           "kubectl_complete", "run", "zsh"]

SHELLS: Final = ("bash", "zsh")
PROGRAMS: Final = ("gwwatch", "kubectl-gwwatch")
_FILE_METAVARS: Final = frozenset(("PATH", "FILE"))
_CONTEXTS: Final = "kubectl config get-contexts -o name 2>/dev/null"


@dataclass(frozen=True, slots=True)
class Option:
    flags: tuple[str, ...]
    help: str
    takes_value: bool
    choices: tuple[str, ...] = ()
    files: bool = False  # the value is a path
    contexts: bool = False  # the value is a kubeconfig context
    repeatable: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...]
    positional_files: bool  # PATH arguments
    positional_choices: tuple[str, ...] = ()


def _option(action: argparse.Action) -> Option:
    takes = action.nargs != 0
    choices = tuple(str(c) for c in action.choices) if action.choices else ()
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    return Option(tuple(action.option_strings), _first_sentence(action.help or ""), takes,
                  choices, takes and metavar in _FILE_METAVARS,
                  takes and "--context" in action.option_strings,
                  isinstance(action, argparse._AppendAction))


def _first_sentence(text: str) -> str:
    text = re.sub(r"\s+", " ", text.replace("%(default)s", "").replace("%%", "%")).strip()
    return re.split(r"[;(]|\. ", text, maxsplit=1)[0].strip().rstrip(".,:")


def commands(parser: argparse.ArgumentParser) -> list[Command]:
    """The commands of ``parser`` with their options (help included)."""
    out = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help or "" for a in action._choices_actions}
        for name, sub in action.choices.items():
            options = tuple(_option(a) for a in sub._actions if a.option_strings)
            positional = [a for a in sub._actions if not a.option_strings]
            files = any(not a.choices for a in positional)
            choices = tuple(str(c) for a in positional if a.choices for c in a.choices)
            out.append(Command(name, _first_sentence(helps.get(name, "")), options, files,
                               choices))
    return out


def _top_options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions if a.option_strings
            and not isinstance(a, argparse._SubParsersAction) for s in a.option_strings]


# --- bash ------------------------------------------------------------------------------------


def bash(parser: argparse.ArgumentParser) -> str:
    cmds = commands(parser)
    names = " ".join(c.name for c in cmds)
    lines = [
        "# bash completion for gwwatch (and kubectl-gwwatch); written by "
        "`gwwatch completion bash`",
        "_gwwatch() {",
        "    local cur prev cmd i",
        '    cur="${COMP_WORDS[COMP_CWORD]}"',
        '    prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    cmd=""',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        case "${COMP_WORDS[i]}" in',
        f'            {"|".join(c.name for c in cmds)}) cmd="${{COMP_WORDS[i]}}"; break ;;',
        "        esac",
        "    done",
        '    case "$cmd" in',
        '    "")',
        f'        COMPREPLY=($(compgen -W "{names} {" ".join(_top_options(parser))}" '
        '-- "$cur"))',
        "        return ;;",
    ]
    for c in cmds:
        lines.append(f"    {c.name})")
        lines.append('        case "$prev" in')
        for o in c.options:
            if not o.takes_value:
                continue
            pattern = "|".join(o.flags)
            if o.choices:
                action = f'COMPREPLY=($(compgen -W "{" ".join(o.choices)}" -- "$cur"))'
            elif o.files:
                action = 'COMPREPLY=($(compgen -f -- "$cur"))'
            elif o.contexts:
                action = f'COMPREPLY=($(compgen -W "$({_CONTEXTS})" -- "$cur"))'
            else:
                action = "COMPREPLY=()"
            lines.append(f"            {pattern}) {action}; return ;;")
        lines.append("        esac")
        flags = " ".join(s for o in c.options for s in o.flags)
        lines.append('        if [[ "$cur" == -* ]]; then')
        lines.append(f'            COMPREPLY=($(compgen -W "{flags}" -- "$cur"))')
        if c.positional_choices:
            lines.append("        else")
            lines.append(f'            COMPREPLY=($(compgen -W "{" ".join(c.positional_choices)}"'
                         ' -- "$cur"))')
        elif c.positional_files:
            lines.append("        else")
            lines.append('            COMPREPLY=($(compgen -f -- "$cur"))')
        lines.append("        fi")
        lines.append("        ;;")
    lines += [
        "    esac",
        "}",
        f"complete -o filenames -F _gwwatch {' '.join(PROGRAMS)}",
        "",
    ]
    return "\n".join(lines)


# --- zsh -------------------------------------------------------------------------------------


def _zsh_text(text: str) -> str:
    """Help text safe inside a single-quoted ``_arguments`` spec's ``[...]``."""
    return re.sub(r"[\[\]:'\\`$]", "", text)


def _zsh_spec(o: Option) -> list[str]:
    exclusive = f"({' '.join(o.flags)})" if len(o.flags) > 1 and not o.repeatable else ""
    star = "*" if o.repeatable else ""
    if not o.takes_value:
        action = ""
    elif o.choices:
        action = f":value:({' '.join(o.choices)})"
    elif o.files:
        action = ":file:_files"
    elif o.contexts:
        action = ":context:_gwwatch_contexts"
    else:
        action = ":value: "
    out = []
    for flag in o.flags:
        eq = "=" if o.takes_value and flag.startswith("--") else ""
        out.append(f"'{exclusive}{star}{flag}{eq}[{_zsh_text(o.help)}]{action}'")
    return out


def zsh(parser: argparse.ArgumentParser) -> str:
    cmds = commands(parser)
    described = " ".join(f"'{c.name}:{_zsh_text(c.help)}'" for c in cmds)
    lines = [
        f"#compdef {' '.join(PROGRAMS)}",
        "# zsh completion for gwwatch (and kubectl-gwwatch); written by "
        "`gwwatch completion zsh`",
        "",
        "_gwwatch_contexts() {",
        "    local -a contexts",
        f'    contexts=(${{(f)"$({_CONTEXTS})"}})',
        "    _describe -t contexts 'kubeconfig context' contexts",
        "}",
        "",
        "_gwwatch() {",
        "    local curcontext=$curcontext state line",
        f"    local -a commands=({described})",
        "    _arguments -C \\",
        "        '(- *)--version[print the version]' '(- *)'{-h,--help}'[show help]' \\",
        "        '1:command:->command' '*::argument:->argument'",
        "    case $state in",
        "    command) _describe -t commands 'gwwatch command' commands ;;",
        "    argument)",
        "        case $words[1] in",
    ]
    for c in cmds:
        specs = [s for o in c.options for s in _zsh_spec(o)]
        if c.positional_choices:
            specs.append(f"'1:{c.name}:({' '.join(c.positional_choices)})'")
        elif c.positional_files:
            specs.append("'*:path:_files'")
        body = " \\\n                ".join(specs)
        lines.append(f"        {c.name}) _arguments \\\n                {body} ;;")
    lines += [
        "        esac ;;",
        "    esac",
        "}",
        "",
        '_gwwatch "$@"',
        "",
    ]
    return "\n".join(lines)


# --- kubectl's plugin completion (cobra's protocol) ------------------------------------------

FILES: Final = 0  # cobra's ShellCompDirectiveDefault: the shell completes file names
NO_FILES: Final = 4  # ShellCompDirectiveNoFileComp


def _contexts() -> list[str]:
    try:
        done = subprocess.run(["kubectl", "config", "get-contexts", "-o", "name"],
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return done.stdout.split() if done.returncode == 0 else []


def complete(parser: argparse.ArgumentParser, words: list[str]) -> tuple[list[str], int]:
    """Candidates for the last of ``words`` (the words after ``gwwatch``; the last one is being
    typed, ``""`` for a new one) and cobra's directive."""
    *before, cur = words or [""]
    cmds = {c.name: c for c in commands(parser)}
    name = next((w for w in before if w in cmds), None)

    def matching(candidates: list[str] | tuple[str, ...]) -> list[str]:
        return [c for c in candidates if c.startswith(cur)]

    if name is None:
        return matching(_top_options(parser) if cur.startswith("-") else list(cmds)), NO_FILES
    command = cmds[name]
    prev = before[-1] if before else ""
    option = next((o for o in command.options if prev in o.flags and o.takes_value), None)
    if option is not None:
        if option.choices:
            return matching(option.choices), NO_FILES
        if option.files:
            return [], FILES
        if option.contexts:
            return matching(_contexts()), NO_FILES
        return [], NO_FILES
    if cur.startswith("-"):
        return matching([f for o in command.options for f in o.flags]), NO_FILES
    if command.positional_choices:
        return matching(command.positional_choices), NO_FILES
    return [], FILES if command.positional_files else NO_FILES


def kubectl_complete(argv: list[str] | None = None) -> int:
    """``kubectl_complete-gwwatch``: what kubectl runs for ``kubectl gwwatch ...<TAB>``."""
    from gwwatch.cli import build_parser

    words = sys.argv[1:] if argv is None else argv
    candidates, directive = complete(build_parser("kubectl gwwatch"), list(words))
    sys.stdout.write("".join(f"{c}\n" for c in candidates) + f":{directive}\n")
    return ExitCode.OK


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "completion", help="print a shell completion script (bash or zsh)",
        description="Print a completion script for gwwatch and kubectl-gwwatch. bash: "
                    "`source <(gwwatch completion bash)` (or save it under "
                    "/etc/bash_completion.d/). zsh: save `gwwatch completion zsh` as "
                    "_gwwatch in a directory of $fpath, then run compinit.")
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(handler=run, command_parser=p)


def run(args: argparse.Namespace) -> int:
    from gwwatch.cli import build_parser

    parser = build_parser()
    sys.stdout.write(bash(parser) if args.shell == "bash" else zsh(parser))
    return ExitCode.OK
