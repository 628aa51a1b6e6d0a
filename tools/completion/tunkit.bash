# bash completion for tunkit(1): subcommands, their options, and the names of the TUN/TAP devices
# of the current network namespace (from `tunkit list`) where a command takes one.
# Installed as completions/tunkit where bash-completion looks for it; works without
# bash-completion too (`source tunkit.bash`).

# The TUN/TAP devices `tunkit list` reports: the first column after its header line.
_tunkit_devices() {
  "$1" list 2>/dev/null | while read -r name _; do
    [[ $name == NAME ]] || printf '%s\n' "$name"
  done
}

_tunkit() {
  local tool=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()
  local commands="create delete list show set dump inject run help version"

  # The subcommand: the first word after the tool that is not an option.
  local i command= command_at=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    if [[ ${COMP_WORDS[i]} != -* ]]; then
      command=${COMP_WORDS[i]}
      command_at=$i
      break
    fi
  done
  if [[ -z $command ]]; then
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
    return 0
  fi
  # After `run ... --`, the rest is a command line of its own.
  if [[ $command == run ]]; then
    for ((i = command_at + 1; i < COMP_CWORD; i++)); do
      if [[ ${COMP_WORDS[i]} == -- ]]; then
        COMPREPLY=($(compgen -c -- "$cur"))
        return 0
      fi
    done
  fi

  local create_opts="--tap --name -n --user -u --group -g --multi-queue --vnet-hdr --pi --mtu --addr --up"
  local options= takes_device=0
  case $command in
    create) options="$create_opts" ;;
    delete | del) takes_device=1 ;;
    list | ls) options="--json" ;;
    show) options="--json"; takes_device=1 ;;
    set) options="--speed --duplex --autoneg --msglvl --rx-frames --feature -K"; takes_device=1 ;;
    dump) options="--write -w --kernel-filter -k --hex -x --count -c --timeout -t"; takes_device=1 ;;
    inject) options="--read -r --rate --count -c"; takes_device=1 ;;
    run) options="$create_opts --queues -q --attach --persist --" ;;
    help | version) return 0 ;;
  esac
  options+=" --help -h"

  # Values of options. `-K NAME on|off`: on or off after the feature's name.
  if ((COMP_CWORD > 1)) && [[ ${COMP_WORDS[COMP_CWORD - 2]} == -K ]]; then
    COMPREPLY=($(compgen -W "on off" -- "$cur"))
    return 0
  fi
  case $prev in
    --user | -u) COMPREPLY=($(compgen -u -- "$cur")); return 0 ;;
    --group | -g) COMPREPLY=($(compgen -g -- "$cur")); return 0 ;;
    --attach) COMPREPLY=($(compgen -W "$(_tunkit_devices "$tool")" -- "$cur")); return 0 ;;
    --duplex) COMPREPLY=($(compgen -W "half full" -- "$cur")); return 0 ;;
    --write | -w | --read | -r) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    --autoneg) COMPREPLY=($(compgen -W "on off" -- "$cur")); return 0 ;;
    --name | -n | --mtu | --addr | --count | -c | --timeout | -t | --queues | -q | --speed | \
      --msglvl | --rx-frames | --feature | -K | --rate)
      return 0 ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
    return 0
  fi
  if ((takes_device)); then
    # The device is the first argument that is not an option or an option's value.
    local seen=0
    for ((i = command_at + 1; i < COMP_CWORD; i++)); do
      case ${COMP_WORDS[i]} in
        --count | -c | --timeout | -t | --speed | --duplex | --autoneg | --msglvl | --rx-frames | \
          --feature | --write | -w | --read | -r | --rate) ((i++)) ;;
        -K) ((i += 2)) ;;
        -*) ;;
        *) seen=1 ;;
      esac
    done
    ((seen)) || COMPREPLY=($(compgen -W "$(_tunkit_devices "$tool")" -- "$cur"))
  fi
  return 0
}

complete -F _tunkit tunkit
