// The bash completion script: the shared tables, and a function that walks the words typed so
// far (command path, option values, positional count) and offers what may come next. Job ids
// come from `dopq __complete-ids`, which lists only the caller's own jobs.
import type { CommandSpec } from './spec.js';
import { shellTables } from './shell-tables.js';

const DRIVER = `
# __dopq_names: the names of "name:description" lines on stdin, one a line.
__dopq_names() {
  local line
  while IFS= read -r line; do printf '%s\\n' "\${line%%:*}"; done
}

_dopq() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmdpath="" config="" expect="" word next kind i npos=0
  [[ $cur == = ]] && cur=""
  # The words before the cursor: which command, which option waits for its value, how many
  # arguments so far, and the config named (job ids come from its spool).
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if [[ $word == = ]]; then
      continue # --opt=value, split at = by COMP_WORDBREAKS
    elif [[ -n $expect ]]; then
      [[ $expect == -c || $expect == --config ]] && config="\${word/#\\~/$HOME}"
      expect=""
    elif [[ $word == --config=* ]]; then
      config="\${word#--config=}"
    elif [[ $word == -* ]]; then
      [[ $(__dopq_option_value "$cmdpath" "$word") != flag ]] && expect="$word"
    elif ((npos == 0)) && next=$(__dopq_command "$cmdpath" "$word") && [[ -n $next ]]; then
      cmdpath="\${cmdpath:+$cmdpath }$next"
    else
      npos=$((npos + 1))
    fi
  done

  COMPREPLY=()
  if [[ -n $expect ]]; then
    kind=$(__dopq_option_value "$cmdpath" "$expect")
  elif [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(__dopq_options "$cmdpath" | __dopq_names)" -- "$cur")
    return
  elif ((npos == 0)) && [[ -n $(__dopq_subcommands "$cmdpath") ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(__dopq_subcommands "$cmdpath" | __dopq_names)" -- "$cur")
    return
  else
    kind=$(__dopq_argument "$cmdpath" "$npos")
  fi
  case "$kind" in
    ids)
      local -a cfg=()
      [[ -n $config ]] && cfg=(--config "$config")
      mapfile -t COMPREPLY < <(compgen -W "$(command dopq "\${cfg[@]}" __complete-ids "$cmdpath" 2>/dev/null)" -- "$cur")
      ;;
    files)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      ;;
    users) mapfile -t COMPREPLY < <(compgen -u -- "$cur") ;;
    "choices "*) mapfile -t COMPREPLY < <(compgen -W "\${kind#choices }" -- "$cur") ;;
  esac
}

complete -F _dopq dopq
`;

export function bashScript(specs: CommandSpec[], version: string): string {
  const header = [
    `# bash completion for dopq ${version}, printed by \`dopq completion bash\` from the program itself.`,
    '# Load it with  eval "$(dopq completion bash)"  in ~/.bashrc, or save it as',
    '# /etc/bash_completion.d/dopq (print it again after an upgrade).',
  ];
  return `${header.join('\n')}\n\n${shellTables(specs)}\n${DRIVER}`;
}
