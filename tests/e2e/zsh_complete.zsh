# zsh -f zsh_complete.zsh COMPLETIONS_DIR LINE
# Types LINE and a Tab into an interactive zsh (on a pseudo-terminal, through zpty) whose
# completion system is loaded with compinit from COMPLETIONS_DIR, and prints every match the
# completion offers as "@@NTHIT@@MATCH@@", then "@@NTDONE@@". The inner shell exits when the
# completion is over, so the output ends there; the caller bounds the time.
zmodload zsh/zpty || exit 3
zpty z zsh -f -i || exit 3
zpty -w z "PROMPT= RPROMPT= PS2=; fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'zstyle ":completion:*" list-grouped false; zstyle ":completion:*" insert-tab false'
# compadd, wrapped: the matches it adds are printed before they are added. Calls that only
# collect matches into an array (-O, -A, -D) are passed on untouched. The markers are written
# in two pieces so that the terminal's echo of these lines never contains them.
zpty -w z 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a __hits; builtin compadd -O __hits "$@"; local h; for h in $__hits; do print -r -- "@@NT""HIT@@$h@@"; done; builtin compadd "$@"; }'
zpty -w z '__nettool_test_done() { print -r -- "@@NT""DONE@@"; exit; }; comppostfuncs=(__nettool_test_done)'
zpty -w z "$2"$'\t'
local out=
while zpty -r z out; do print -rn -- $out; done
