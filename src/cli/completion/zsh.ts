// The zsh completion script: the tables bash uses too, and a function in zsh's own terms
// (_describe with descriptions, _files, _users). It works from $fpath (as _dopq) or sourced.
import type { CommandSpec } from './spec.js';
import { shellTables } from './shell-tables.js';

const DRIVER = `
_dopq() {
  local cmdpath="" config="" expect="" word next kind
  local -a items cfg expl
  local -i i npos=0
  # The words before the cursor: which command, which option waits for its value, how many
  # arguments so far, and the config named (job ids come from its spool).
  for ((i = 2; i < CURRENT; i++)); do
    word=\${words[i]}
    if [[ -n $expect ]]; then
      [[ $expect == -c || $expect == --config ]] && config=\${word/#\\~/$HOME}
      expect=""
    elif [[ $word == --config=* ]]; then
      config=\${word#--config=}
    elif [[ $word == -* ]]; then
      [[ $(__dopq_option_value "$cmdpath" "$word") != flag ]] && expect=$word
    elif ((npos == 0)) && next=$(__dopq_command "$cmdpath" "$word") && [[ -n $next ]]; then
      cmdpath=\${cmdpath:+$cmdpath }$next
    else
      npos+=1
    fi
  done
  if [[ -z $expect && $PREFIX == --*=* ]]; then
    expect=\${PREFIX%%=*}
    compset -P '*='
  fi

  if [[ -n $expect ]]; then
    kind=$(__dopq_option_value "$cmdpath" "$expect")
  elif [[ $PREFIX == -* ]]; then
    items=(\${(f)"$(__dopq_options "$cmdpath")"})
    _describe -t options option items
    return
  elif ((npos == 0)) && [[ -n $(__dopq_subcommands "$cmdpath") ]]; then
    items=(\${(f)"$(__dopq_subcommands "$cmdpath")"})
    _describe -t commands 'dopq command' items
    return
  else
    kind=$(__dopq_argument "$cmdpath" "$npos")
  fi
  case $kind in
    ids)
      [[ -n $config ]] && cfg=(--config "$config")
      items=(\${(f)"$(command dopq "\${cfg[@]}" __complete-ids "$cmdpath" 2>/dev/null)"})
      _wanted jobs expl 'job id' compadd -a items
      ;;
    files) _files ;;
    users) _users ;;
    "choices "*)
      items=(\${=kind#choices })
      compadd -a items
      ;;
  esac
}

if [[ $funcstack[1] == _dopq ]]; then
  _dopq "$@"
else
  compdef _dopq dopq
fi
`;

export function zshScript(specs: CommandSpec[], version: string): string {
  const header = [
    '#compdef dopq',
    `# zsh completion for dopq ${version}, printed by \`dopq completion zsh\` from the program itself.`,
    '# Load it with  source <(dopq completion zsh)  in ~/.zshrc (after compinit), or save it as',
    '# _dopq in a folder of $fpath (print it again after an upgrade).',
  ];
  return `${header.join('\n')}\n\n${shellTables(specs)}\n${DRIVER}`;
}
