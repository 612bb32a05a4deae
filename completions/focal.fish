# fish completion for focal, the command-line neural speech codec.
# Install: copy to ~/.config/fish/completions/focal.fish (or /usr/share/fish/vendor_completions.d).
# Kept in step with `focal --help` by tests/cli/test_docs_sync.py.

set -l commands encode decode info stream play devices models train export-model
set -l models focal-small focal-small-ladder focal-small-hybrid focal-small-hybrid-2 focal-small-hybrid-3 focalcodec_50hz_2k_causal focalcodec_50hz_4k_causal focalcodec_50hz_65k_causal focalcodec_50hz focalcodec_25hz focalcodec_12_5hz
set -l fields file format_version model model_hash channels duration num_samples sample_rate_input sample_rate_output source_sample_rate source_samples token_rate bits_per_token groups rungs framing payload_bitrate bitrate packet_tokens packet_ms packets tokens bytes header_bytes overhead_bytes overhead_percent integrity damaged lost_seconds complete metadata verified

complete -c focal -f

# global options and commands
complete -c focal -n "not __fish_seen_subcommand_from $commands" -s q -l quiet -d 'No progress, notes or warnings'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -s v -l verbose -d 'More detail per file'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -s V -l version -d 'Print the version and exit'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -s h -l help -d 'Show help and exit'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -a encode -d 'Encode audio files (or stdin) to .fcs'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -a decode -d 'Decode .fcs to WAV, FLAC or raw PCM'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -a info -d 'Show what .fcs files hold'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -a stream -d 'Stream the microphone, a file or stdin as live .fcs'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -a play -d 'Play an .fcs file or live stream'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -a devices -d 'List the sound devices'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -a models -d 'List the bundled and official models, or pull one'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -a train -d 'Train a codec from a config, or resume its run'
complete -c focal -n "not __fish_seen_subcommand_from $commands" -a export-model -d 'Export a training checkpoint as a model folder'

# options of every command
for cmd in $commands
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s q -l quiet -d 'No progress, notes or warnings'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s v -l verbose -d 'More detail per file'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s h -l help -d 'Show help and exit'
end

# encode and decode share these
for cmd in encode decode
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s d -l output-dir -r -a '(__fish_complete_directories)' -d 'Write outputs under DIR'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s f -l force -d 'Overwrite existing outputs'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s j -l jobs -x -d 'Files in parallel'
end
for cmd in encode decode info
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s m -l model -r -F -a "$models" -d 'Model name, folder, config.json or hub id'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -l threads -x -d 'CPU threads per model call'
end
for cmd in encode decode stream play
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -l precision -x -a 'fp32 bf16 mixed int8' -d 'Compute precision'
end

# encode
complete -c focal -n "__fish_seen_subcommand_from encode" -F
complete -c focal -n "__fish_seen_subcommand_from encode" -l multichannel -d 'Code each channel separately'
complete -c focal -n "__fish_seen_subcommand_from encode" -l raw -d 'Input is headerless little-endian PCM'
complete -c focal -n "__fish_seen_subcommand_from encode" -s r -l rate -x -a '8000 16000 22050 24000 44100 48000' -d 'Sample rate of raw input'
complete -c focal -n "__fish_seen_subcommand_from encode" -s b -l bits -x -a '8 16 24 32 32f' -d 'Sample format of raw input'
complete -c focal -n "__fish_seen_subcommand_from encode" -s c -l channels -x -d 'Channels of raw input'
complete -c focal -n "__fish_seen_subcommand_from encode" -l packet-ms -x -d 'Duration of one .fcs packet'
complete -c focal -n "__fish_seen_subcommand_from encode" -l bitrate -x -a '0.6 1.2 2.4' -d 'Payload kbit/s of a ladder model (or a schedule)'
complete -c focal -n "__fish_seen_subcommand_from encode" -l ray -x -a 'local auto' -d 'Code a corpus on Ray workers'
complete -c focal -n "__fish_seen_subcommand_from encode" -l shard -x -d 'Code only share K/N of the files'
complete -c focal -n "__fish_seen_subcommand_from encode" -l format -x -a 'fcs npy' -d 'Output format'

# decode
complete -c focal -n "__fish_seen_subcommand_from decode" -F
complete -c focal -n "__fish_seen_subcommand_from decode" -s F -l format -x -a 'wav flac raw' -d 'Output format'
complete -c focal -n "__fish_seen_subcommand_from decode" -s b -l bits -x -a '8 16 24 32 32f' -d 'Output sample format'
complete -c focal -n "__fish_seen_subcommand_from decode" -s r -l rate -x -a 'source 8000 16000 22050 24000 44100 48000' -d 'Output sample rate'
complete -c focal -n "__fish_seen_subcommand_from decode" -l strict -d 'Fail on a damaged file'

# info
complete -c focal -n "__fish_seen_subcommand_from info" -F
complete -c focal -n "__fish_seen_subcommand_from info" -l json -d 'Print JSON'
complete -c focal -n "__fish_seen_subcommand_from info" -s k -l field -x -a "$fields" -d 'Print only this field'
complete -c focal -n "__fish_seen_subcommand_from info" -s t -l verify -d 'Decode and check, writing nothing'

# stream
complete -c focal -n "__fish_seen_subcommand_from stream" -s i -l input -r -F -a 'mic -' -d 'mic, an audio file, or - for stdin'
complete -c focal -n "__fish_seen_subcommand_from stream" -s o -l output -r -F -d 'Where the .fcs stream goes'
complete -c focal -n "__fish_seen_subcommand_from stream" -l realtime -d 'Pace a file like a microphone'
complete -c focal -n "__fish_seen_subcommand_from stream" -l duration -x -d 'Stop after SECONDS of input'
complete -c focal -n "__fish_seen_subcommand_from stream" -l packet-ms -x -d 'Duration of one .fcs packet'
complete -c focal -n "__fish_seen_subcommand_from stream" -l bitrate -x -a '0.6 1.2 2.4' -d 'Payload kbit/s of a ladder model (or a schedule)'
complete -c focal -n "__fish_seen_subcommand_from stream" -l framing -x -a 'compact sync' -d 'Live framing'

# play
complete -c focal -n "__fish_seen_subcommand_from play" -F
complete -c focal -n "__fish_seen_subcommand_from play" -s o -l output -r -F -d 'Write the audio instead of playing it'
complete -c focal -n "__fish_seen_subcommand_from play" -l buffer-ms -x -d 'Jitter buffer delay'
complete -c focal -n "__fish_seen_subcommand_from play" -l simulate-jitter -x -d 'Delay packets by a random 0..MS ms'

# stream and play share these
for cmd in stream play
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s q -l quiet -d 'No progress, notes or warnings'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s v -l verbose -d 'More detail'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s h -l help -d 'Show help and exit'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s D -l device -x -d 'Sound device (index or name)'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -l simulate-loss -x -d 'Drop PCT percent of packets'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -l loss-model -x -a 'random bursty' -d 'How packets are dropped'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -l seed -x -d 'Seed of the simulation'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s f -l force -d 'Overwrite an existing output'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -s m -l model -r -F -a "$models" -d 'Model name, folder, config.json or hub id'
    complete -c focal -n "__fish_seen_subcommand_from $cmd" -l threads -x -d 'CPU threads per model call'
end

# devices
complete -c focal -n "__fish_seen_subcommand_from devices" -s q -l quiet -d 'No progress, notes or warnings'
complete -c focal -n "__fish_seen_subcommand_from devices" -s v -l verbose -d 'More detail'
complete -c focal -n "__fish_seen_subcommand_from devices" -s h -l help -d 'Show help and exit'
complete -c focal -n "__fish_seen_subcommand_from devices" -l json -d 'Print a JSON list'

# models
complete -c focal -n "__fish_seen_subcommand_from models; and not __fish_seen_subcommand_from pull" -l json -d 'Print a JSON list'
complete -c focal -n "__fish_seen_subcommand_from models; and not __fish_seen_subcommand_from pull" -a pull -d 'Download an official model'
complete -c focal -n "__fish_seen_subcommand_from pull" -a "$models" -d 'Model'

# train
complete -c focal -n "__fish_seen_subcommand_from train" -F
complete -c focal -n "__fish_seen_subcommand_from train" -l run -x -d 'Run name (folder under ~/.cache/focal/train)'
complete -c focal -n "__fish_seen_subcommand_from train" -l run-dir -r -a '(__fish_complete_directories)' -d 'Checkpoint folder'
complete -c focal -n "__fish_seen_subcommand_from train" -l steps -x -d 'Stop after N steps in total'
complete -c focal -n "__fish_seen_subcommand_from train" -l fresh -d 'Start again instead of resuming'
complete -c focal -n "__fish_seen_subcommand_from train" -l threads -x -d 'torch threads'

# export-model
complete -c focal -n "__fish_seen_subcommand_from export-model" -F
complete -c focal -n "__fish_seen_subcommand_from export-model" -l name -x -d 'Model name in the card'
complete -c focal -n "__fish_seen_subcommand_from export-model" -l card-extra -r -F -d 'Markdown appended to the model card'
complete -c focal -n "__fish_seen_subcommand_from export-model" -l calibrate-level -d 'Decoded level = input level'
complete -c focal -n "__fish_seen_subcommand_from export-model" -l half -d 'Store float16 weights'
complete -c focal -n "__fish_seen_subcommand_from export-model" -s f -l force -d 'Replace the model files in an existing folder'
