"""Shell completion: the ``completion`` command prints the script for bash, zsh or fish, and ``VOLUME:PATH``
arguments complete volume ids and paths by reading the recovery point given before them (metadata only, no
keys: a locked volume completes nothing)."""

from __future__ import annotations

import contextlib
import os
import posixpath
from typing import TYPE_CHECKING

import click
from click.shell_completion import BashComplete, CompletionItem, add_completion_class, get_completion_class

if TYPE_CHECKING:
    from restorekit.fs.filesystem import Filesystem

SHELLS = ("bash", "zsh", "fish")
#: Where each shell's script goes, for the help text.
SETUP = {"bash": 'eval "$(restorekit completion bash)"  # in ~/.bashrc',
         "zsh": 'eval "$(restorekit completion zsh)"   # in ~/.zshrc',
         "fish": "restorekit completion fish > ~/.config/fish/completions/restorekit.fish"}
#: Entries offered at most, so a folder of a million files does not stall the shell.
MAX_ITEMS = 500


class VolumePathBashComplete(BashComplete):
    """bash, with ``VOLUME:PATH`` words kept whole: bash splits words at ``:`` (``COMP_WORDBREAKS``), so the
    word being completed is taken from ``COMP_LINE`` and each answer is cut back to the part after the last
    colon, which is all bash replaces."""

    source_template = r"""%(complete_func)s() {
    local IFS=$'\n' line="${COMP_LINE:0:$COMP_POINT}" response cur n
    local -a words
    IFS=$' \t\n' read -ra words <<< "$line"
    n=${#words[@]}
    if [[ "$line" =~ [[:space:]]$ ]]; then cur=""; else cur="${words[n-1]}"; n=$((n-1)); fi
    response=$(env COMP_WORDS="$line" COMP_CWORD=$n %(complete_var)s=bash_complete $1)
    local kept="${cur%%"${cur##*:}"}"
    for completion in $response; do
        IFS=',' read type value <<< "$completion"
        if [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            [[ "$COMP_WORDBREAKS" == *:* ]] && value="${value#"$kept"}"
            COMPREPLY+=("$value")
        fi
    done
    [[ "${COMPREPLY[0]}" == */ || "${COMPREPLY[0]}" == *: ]] && compopt -o nospace
    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""


add_completion_class(VolumePathBashComplete, "bash")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish. Commands, options, recovery-point paths, volume
    ids (os-p3:) and paths inside volumes (os-p3:/Users/...) complete with Tab.

    \b
    Set-up, once:
      bash: eval "$(restorekit completion bash)"    (add the line to ~/.bashrc)
      zsh:  eval "$(restorekit completion zsh)"     (add the line to ~/.zshrc)
      fish: restorekit completion fish > ~/.config/fish/completions/restorekit.fish

    \b
    Example:
      restorekit completion bash > /dev/null
      restorekit completion fish | head -3
    """
    from restorekit.cli import cli

    script_class = get_completion_class(shell)
    assert script_class is not None  # the Choice allows only shells click knows
    click.echo(script_class(cli, {}, "restorekit", "_RESTOREKIT_COMPLETE").source())


def complete_targets(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Recovery-point paths (the shell's file completion); once one is given, also ``VOLUME:`` ids and the
    entries of folders inside volumes."""
    given = [a for a in (ctx.params.get(param.name or "") or ()) if os.path.exists(a)]
    items = [] if ":" in incomplete else [CompletionItem(incomplete, type="file")]
    if given:
        with contextlib.suppress(Exception):  # completion never prints an error into the user's prompt
            items += _volume_items(given, incomplete)
    return items


def _volume_items(paths: list[str], incomplete: str) -> list[CompletionItem]:
    from restorekit import api

    vid, sep, path = incomplete.partition(":")
    with api.open(*paths) as rp:
        if not sep:
            return [CompletionItem(f"{v}:", type="plain") for v in rp.readable_volumes() if v.startswith(vid)]
        return _path_items(rp.filesystem(vid), vid, path)


def _path_items(fs: Filesystem, vid: str, path: str) -> list[CompletionItem]:
    folder, _slash, stem = (path or "/").rpartition("/")
    entries = fs.listdir(fs.stat(folder or "/"))
    out = []
    for entry in entries:
        name = entry.name
        if name.lower().startswith(stem.lower()) if fs.case_insensitive else name.startswith(stem):
            full = posixpath.join(folder or "/", name) + ("/" if entry.is_dir else "")
            out.append(CompletionItem(f"{vid}:{full}", type="plain"))
        if len(out) >= MAX_ITEMS:
            break
    return out
