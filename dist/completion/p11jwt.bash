# bash completion for p11jwt(1)                            -*- shell-script -*-
#
# Installed as completions/p11jwt, where bash-completion loads it on the
# first Tab after `p11jwt`. Needs bash-completion's helpers (_init_completion,
# _filedir).
#
# Nothing about the CLI is written down here: commands, each command's
# options and which of them take a value, subcommands (rotate stage...) and
# the alg names are read from the program's own --help the first time they
# are needed and kept for the life of the shell, so the completion always
# matches the binary being completed (build/p11jwt or the installed one).
# What --help cannot say is decided by the option's name or the metavar its
# help shows:
#   --alg               the algs of `p11jwt keygen --help` (lines such as
#                       "  ES256|ES384|ES512  ..."), or the ones the
#                       command's own --alg line names (import-secret: HS*);
#                       keygen also takes those its help gives as
#                       "Or --alg A256GCM: ..." (keys that do not sign)
#   --profile           the [profile NAME] headers of the config file that
#                       --config, $P11JWT_CONFIG, ~/.config/p11jwt/config or
#                       /etc/p11jwt/config names (p11jwt's own order)
#   --dialect           the dialects of `p11jwt token --help`
#   --pin-env           exported environment variables
#   -X, --request       HTTP methods
#   -d, --data          @FILE
#   --audit             file:PATH (files after "file:") or syslog
#   metavar PATH        files
# Anything else (a kid, an issuer, a URI) has no completion.

# The caches, global even when bash-completion sources this file from
# inside a function. Keys: "BIN" (commands), "BIN|CMD" (options),
# "BIN|CMD|OPT" (that option's metavar, "" for a flag).
declare -gA _p11jwt_text _p11jwt_cmds _p11jwt_opts _p11jwt_arg _p11jwt_subs _p11jwt_algs \
    _p11jwt_algline _p11jwt_keygen_algs

# _p11jwt_add WORDS: adds those of WORDS that start with $cur to COMPREPLY
# (compgen -W would cost a fork per Tab: ~25 ms on a busy machine).
_p11jwt_add()
{
    local w
    for w in $1; do
        [[ $w == "$cur"* ]] && COMPREPLY+=("$w")
    done
}

# _p11jwt_load BIN [CMD]: parses `BIN [CMD] --help` into the caches, once.
_p11jwt_load()
{
    local bin=$1 cmd=${2-} key="$1${2:+|$2}" line opts="" subs="" word
    [[ -n ${_p11jwt_opts["$key"]+set} ]] && return 0
    local text
    text=$(LC_ALL=C "$bin" ${cmd:+"$cmd"} --help 2>/dev/null </dev/null) || text=""
    _p11jwt_text["$key"]=$text
    local in_commands=0
    local re_opt='^  (-[A-Za-z]), (--[a-z0-9][a-z0-9-]*)( ([A-Z][A-Za-z_=:|]*))?'
    local re_long='^  (--[a-z0-9][a-z0-9-]*)( ([A-Z][A-Za-z_=:|]*))?'
    local re_alg='^  ([A-Z][A-Za-z0-9]*(\|[A-Z][A-Za-z0-9]*)*)  '
    local re_keygen_alg='^Or --alg ([A-Z][A-Za-z0-9]*):'
    local re_sub="^(Usage:)? +[^ ]+ ${cmd:-.} ([a-z][a-z-]*)( |$)"
    while IFS= read -r line; do
        if [[ -z $cmd ]]; then
            # p11jwt --help: the "Commands:" block, and --help/--version.
            if [[ $line == "Commands:" ]]; then in_commands=1; continue; fi
            [[ -z $line ]] && in_commands=0
            if ((in_commands)) && [[ $line =~ ^\ \ ([a-z][a-z0-9-]*)\  ]]; then
                _p11jwt_cmds["$bin"]+="${BASH_REMATCH[1]} "
            fi
            [[ $line == Usage:* || $line == "      "* ]] &&
                for word in $line; do
                    [[ $word == --[a-z]* ]] && opts+="$word "
                done
            continue
        fi
        if [[ $line =~ $re_opt ]]; then
            opts+="${BASH_REMATCH[1]} ${BASH_REMATCH[2]} "
            _p11jwt_arg["$key|${BASH_REMATCH[1]}"]=${BASH_REMATCH[4]}
            _p11jwt_arg["$key|${BASH_REMATCH[2]}"]=${BASH_REMATCH[4]}
        elif [[ $line =~ $re_long ]]; then
            # The first line of an option wins (sign lists --claim twice).
            if [[ -z ${_p11jwt_arg["$key|${BASH_REMATCH[1]}"]+set} ]]; then
                opts+="${BASH_REMATCH[1]} "
                _p11jwt_arg["$key|${BASH_REMATCH[1]}"]=${BASH_REMATCH[3]}
                [[ ${BASH_REMATCH[1]} == --alg ]] && _p11jwt_algline["$key"]=$line
            fi
        elif [[ $line =~ $re_sub ]]; then
            [[ " $subs " == *" ${BASH_REMATCH[2]} "* ]] || subs+="${BASH_REMATCH[2]} "
        elif [[ $cmd == keygen && $line =~ $re_alg ]]; then
            _p11jwt_algs["$bin"]+="${BASH_REMATCH[1]//|/ } "
        elif [[ $cmd == keygen && $line =~ $re_keygen_alg ]]; then
            _p11jwt_keygen_algs["$bin"]+="${BASH_REMATCH[1]} "
        fi
    done <<<"$text"
    _p11jwt_opts["$key"]=$opts
    _p11jwt_subs["$key"]=$subs
}

# _p11jwt_alg_values BIN CMD: adds the algs --alg takes for CMD.
_p11jwt_alg_values()
{
    local bin=$1 cmd=$2 a only=""
    _p11jwt_load "$bin" keygen
    # A command whose --alg line names algs (import-secret: "HS256, HS384
    # or HS512") takes those only.
    for a in ${_p11jwt_algs["$bin"]-}; do
        [[ ${_p11jwt_algline["$bin|$cmd"]-} =~ (^|[^A-Za-z0-9])$a([^A-Za-z0-9]|$) ]] &&
            only+="$a "
    done
    _p11jwt_add "${only:-${_p11jwt_algs["$bin"]-}}"
    [[ $cmd == keygen ]] && _p11jwt_add "${_p11jwt_keygen_algs["$bin"]-}"
}

# _p11jwt_dialects BIN: the dialects `p11jwt token --help` lists.
_p11jwt_dialects()
{
    local bin=$1 line in=0 w
    _p11jwt_load "$bin" token
    while IFS= read -r line; do
        if [[ $line == "  dialect "* ]]; then
            in=1
            line=${line#  dialect}
        elif ((in)) && [[ $line != "                   "* ]]; then
            break
        fi
        ((in)) || continue
        for w in ${line//|/ }; do
            [[ $w =~ ^[a-z][a-z0-9-]*$ ]] && printf '%s\n' "$w"
        done
    done <<<"${_p11jwt_text["$bin|token"]}"
}

# _p11jwt_config_path: the config file the command line would use. (Only
# asked while completing --profile's value, so no --config here is the word
# being typed; in bash, words[cword] may even be the word after the cursor.)
_p11jwt_config_path()
{
    local i
    for ((i = 1; i < ${#words[@]}; i++)); do
        case ${words[i]} in
            --config)
                if ((i + 1 < ${#words[@]})); then
                    if [[ ${words[i + 1]} == = ]]; then
                        ((i + 2 < ${#words[@]})) && _p11jwt_path=${words[i + 2]} && return
                    else
                        _p11jwt_path=${words[i + 1]}
                        return
                    fi
                fi
                ;;
            --config=?*)
                _p11jwt_path=${words[i]#--config=}
                return
                ;;
        esac
    done
    if [[ -n ${P11JWT_CONFIG-} ]]; then
        _p11jwt_path=$P11JWT_CONFIG
    elif [[ -n ${HOME-} && -e $HOME/.config/p11jwt/config ]]; then
        _p11jwt_path=$HOME/.config/p11jwt/config
    else
        _p11jwt_path=/etc/p11jwt/config
    fi
}

# _p11jwt_profiles FILE: the names of its [profile NAME] sections, read as
# p11jwt's parser reads them (blanks around and inside the brackets,
# "profile" then at least one blank, nothing after the "]").
_p11jwt_profiles()
{
    local file=$1 line name
    [[ $file == "~/"* ]] && file=$HOME/${file#"~/"}
    [[ -r $file && -f $file ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line#"${line%%[![:space:]]*}"}
        line=${line%"${line##*[![:space:]]}"}
        [[ $line == \[*\] ]] || continue
        name=${line:1:${#line}-2}
        [[ $name == *\]* ]] && continue
        name=${name#"${name%%[![:space:]]*}"}
        [[ $name =~ ^profile[[:space:]]+(.*)$ ]] || continue
        name=${BASH_REMATCH[1]}
        name=${name%"${name##*[![:space:]]}"}
        [[ -n $name ]] && printf '%s\n' "$name"
    done <"$file"
}

_p11jwt()
{
    local cur prev words cword split
    _init_completion -s -n : || return

    local bin=${words[0]}
    [[ $bin == "~/"* ]] && bin=$HOME/${bin#"~/"}
    if [[ $bin != */* ]]; then
        # The hash table gives the path without forking; type -P if hashing
        # is off.
        if hash -- "$bin" 2>/dev/null && [[ -n ${BASH_CMDS[$bin]-} ]]; then
            bin=${BASH_CMDS[$bin]}
        else
            bin=$(type -P -- "$bin") || return 0
        fi
    fi
    [[ -x $bin ]] || return 0

    _p11jwt_load "$bin"
    if ((cword == 1)); then
        if [[ $cur == -* ]]; then
            _p11jwt_add "${_p11jwt_opts["$bin"]}"
        else
            _p11jwt_add "${_p11jwt_cmds["$bin"]-}"
        fi
        return 0
    fi

    local cmd=${words[1]}
    [[ " ${_p11jwt_cmds["$bin"]-} " == *" $cmd "* ]] || return 0
    _p11jwt_load "$bin" "$cmd"
    local key="$bin|$cmd"

    # A command with subcommands (rotate) takes one right after it.
    if [[ -n ${_p11jwt_subs["$key"]} ]] && ((cword == 2)) && [[ $cur != -* ]]; then
        _p11jwt_add "${_p11jwt_subs["$key"]}"
        return 0
    fi

    # The value of an option.
    local arg=${_p11jwt_arg["$key|$prev"]-}
    if [[ $prev == -* && -n $arg ]]; then
        local i name
        case $prev in
            --alg)
                _p11jwt_alg_values "$bin" "$cmd"
                ;;
            --profile)
                local _p11jwt_path
                _p11jwt_config_path
                while IFS= read -r name; do
                    [[ $name == "$cur"* ]] || continue
                    printf -v name '%q' "$name"
                    COMPREPLY+=("$name")
                done < <(_p11jwt_profiles "$_p11jwt_path")
                ;;
            --dialect)
                _p11jwt_add "$(_p11jwt_dialects "$bin")"
                ;;
            --pin-env)
                COMPREPLY=($(compgen -e -- "$cur"))
                ;;
            -X | --request)
                _p11jwt_add "GET POST PUT PATCH DELETE HEAD OPTIONS"
                ;;
            --audit)
                if [[ $cur == file:* ]]; then
                    cur=${cur#file:}
                    _filedir
                    for i in "${!COMPREPLY[@]}"; do
                        COMPREPLY[i]=file:${COMPREPLY[i]}
                    done
                else
                    _p11jwt_add "file: syslog"
                    [[ ${COMPREPLY[*]} == file: ]] && compopt -o nospace 2>/dev/null
                fi
                ;;
            -d | --data)
                if [[ $cur == @* ]]; then
                    cur=${cur#@}
                    _filedir
                    for i in "${!COMPREPLY[@]}"; do
                        COMPREPLY[i]=@${COMPREPLY[i]}
                    done
                fi
                ;;
            *)
                [[ $arg == PATH* ]] && _filedir
                ;;
        esac
        return 0
    fi
    $split && return 0

    # Options (also on an empty word: no command takes a file argument).
    [[ $cur == -* || -z $cur ]] &&
        _p11jwt_add "${_p11jwt_opts["$key"]}"
    return 0
}
complete -F _p11jwt p11jwt
