# bash completion for focal, the command-line neural speech codec.
# Install: copy to /usr/share/bash-completion/completions/focal (or source it from ~/.bashrc).
# Kept in step with `focal --help` by tests/cli/test_docs_sync.py.

_focal_models="focal-small focal-small-ladder focal-small-hybrid focal-small-hybrid-2 focal-small-hybrid-3 focalcodec_50hz_2k_causal focalcodec_50hz_4k_causal focalcodec_50hz_65k_causal focalcodec_50hz focalcodec_25hz focalcodec_12_5hz"
_focal_fields="file format_version model model_hash channels duration num_samples sample_rate_input sample_rate_output source_sample_rate source_samples token_rate bits_per_token groups rungs framing payload_bitrate bitrate packet_tokens packet_ms packets tokens bytes header_bytes overhead_bytes overhead_percent integrity damaged lost_seconds complete metadata verified"

_focal_files() {
    # $1: extended glob of extensions, e.g. '@(wav|flac)'; folders are always offered
    local IFS=$'\n' restore
    restore=$(shopt -p extglob)
    shopt -s extglob
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -d -- "$cur") $(compgen -f -X "!*.$1" -- "$cur"))
    eval "$restore"
}

_focal() {
    local cur prev cmd sub i
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}

    cmd="" sub=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *)
                if [[ -z $cmd ]]; then cmd=${COMP_WORDS[i]}
                elif [[ $cmd == models && -z $sub ]]; then sub=${COMP_WORDS[i]}
                fi ;;
        esac
    done

    case $prev in
        -m|--model)
            local IFS=$'\n'
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -W "$_focal_models" -- "$cur") $(compgen -d -- "$cur") $(compgen -f -X '!*.json' -- "$cur"))
            return ;;
        -d|--output-dir)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -d -- "$cur")); return ;;
        -b|--bits) COMPREPLY=($(compgen -W "8 16 24 32 32f" -- "$cur")); return ;;
        -F|--format) COMPREPLY=($(compgen -W "wav flac raw" -- "$cur")); return ;;
        -r|--rate)
            if [[ $cmd == decode ]]; then
                COMPREPLY=($(compgen -W "source 8000 16000 22050 24000 44100 48000" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "8000 16000 22050 24000 44100 48000" -- "$cur"))
            fi
            return ;;
        -k|--field) COMPREPLY=($(compgen -W "$_focal_fields" -- "$cur")); return ;;
        -i|--input)
            if [[ $cmd == stream ]]; then
                COMPREPLY=($(compgen -W "mic -" -- "$cur"))
                _focal_files '@(wav|WAV|wave|flac|FLAC|ogg|oga|opus|mp3|aiff|aif|aifc|au|snd|caf|w64|rf64|voc|sph|nist)'
                COMPREPLY+=($(compgen -W "mic -" -- "$cur"))
                return
            fi ;;
        -o|--output)
            if [[ $cmd == stream ]]; then _focal_files 'fcs'; else _focal_files '@(wav|flac|raw)'; fi
            return ;;
        --loss-model) COMPREPLY=($(compgen -W "random bursty" -- "$cur")); return ;;
        --precision) COMPREPLY=($(compgen -W "fp32 bf16 mixed int8" -- "$cur")); return ;;
        --bitrate) COMPREPLY=($(compgen -W "0.6 1.2 2.4" -- "$cur")); return ;;
        --framing) COMPREPLY=($(compgen -W "compact sync" -- "$cur")); return ;;
        --run-dir)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --card-extra)
            _focal_files '@(md|markdown)'; return ;;
        -D|--device|--duration|--simulate-loss|--simulate-jitter|--buffer-ms|--seed) return ;;
        --run|--steps|--name) return ;;
        -c|--channels|-j|--jobs|--threads|--packet-ms) return ;;
    esac

    local opts
    case $cmd in
        "")
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--quiet -q --verbose -v --version -V --help -h" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "encode decode info stream play devices models train export-model" -- "$cur"))
            fi
            return ;;
        encode)
            opts="--output-dir -d --force -f --model -m --multichannel --raw --rate -r --bits -b --channels -c --packet-ms --bitrate --jobs -j --threads --precision --ray --shard --format --quiet -q --verbose -v --help -h"
            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"))
            else _focal_files '@(wav|WAV|wave|flac|FLAC|ogg|oga|opus|mp3|aiff|aif|aifc|au|snd|caf|w64|rf64|voc|sph|nist|fcs)'
            fi ;;
        decode)
            opts="--output-dir -d --force -f --model -m --format -F --bits -b --rate -r --strict --jobs -j --threads --precision --quiet -q --verbose -v --help -h"
            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"))
            else _focal_files '@(fcs|wav|flac|raw|pcm)'
            fi ;;
        info)
            opts="--json --field -k --verify -t --model -m --threads --quiet -q --verbose -v --help -h"
            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"))
            else _focal_files 'fcs'
            fi ;;
        stream)
            opts="--input -i --output -o --device -D --realtime --duration --packet-ms --bitrate --framing --simulate-loss --loss-model --seed --force -f --model -m --threads --precision --quiet -q --verbose -v --help -h"
            COMPREPLY=($(compgen -W "$opts" -- "$cur")) ;;
        play)
            opts="--output -o --device -D --buffer-ms --simulate-loss --loss-model --simulate-jitter --seed --force -f --model -m --threads --precision --quiet -q --verbose -v --help -h"
            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"))
            else _focal_files 'fcs'
            fi ;;
        devices)
            opts="--json --quiet -q --verbose -v --help -h"
            COMPREPLY=($(compgen -W "$opts" -- "$cur")) ;;
        train)
            opts="--run --run-dir --steps --fresh --threads --quiet -q --verbose -v --help -h"
            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"))
            else _focal_files 'json'
            fi ;;
        export-model)
            opts="--name --card-extra --calibrate-level --half --force -f --quiet -q --verbose -v --help -h"
            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"))
            else _focal_files 'pt'
            fi ;;
        models)
            case $sub in
                pull)
                    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--quiet -q --verbose -v --help -h" -- "$cur"))
                    else COMPREPLY=($(compgen -W "$_focal_models" -- "$cur"))
                    fi ;;
                *)
                    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--json --quiet -q --verbose -v --help -h" -- "$cur"))
                    else COMPREPLY=($(compgen -W "pull" -- "$cur"))
                    fi ;;
            esac ;;
    esac
}

complete -F _focal focal
