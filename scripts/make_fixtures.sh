#!/usr/bin/env bash
# make_fixtures.sh - synthesise voicedesk's committed audio fixtures.
#
# Writes, into tests/fixtures/ (16 kHz mono s16le WAV unless noted):
#   dispatch_frontend.wav   "Frontend, please add a dark mode toggle." with a ~350 ms comma pause
#   status_job.wav          "What is the status of job twelve?"
#   cancel_job.wav          "Cancel job three."
#   experiment.wav          "Queue an experiment with half the warmup."
#   results.wav             "Show me the leaderboard."
#   multi_command.wav       0.8 s silence, 4 commands 1.5 s apart, 1 s silence at the end
#   multi_command.tsv       start<TAB>end<TAB>text of each command in multi_command.wav (seconds)
#   dispatch_8k_stereo.wav  dispatch_frontend.wav at 8 kHz, 2 channels
#   silence.wav             2 s of digital silence
#   noise.wav               2 s of quiet pink noise
#   empty.wav               a valid WAV header with zero samples
#   truncated.wav           the first half of dispatch_frontend.wav's bytes (header claims more)
#   not_audio.wav           a short text file with a .wav name
#   yes.wav                 "Yes, go ahead."
#   wake_word.wav           "What is running?" (no wake word), 1.5 s, "Computer, show me the leaderboard."
#   infra_restart.wav       "Infra, restart the server."
#   what_did_i_miss.wav     "What did I miss?"
#   labelled/               a small labelled command set for `python -m benchmarks accuracy`:
#                           stream.wav (7 of the fixtures above back to back, under 20 s),
#                           labels.tsv (the dev set's columns; `file` names the fixture) and
#                           agents.toml (the agents the commands address)
# and the demo voicedesk/data/sample_commands.wav: "Frontend, please add a dark mode toggle." /
# "Tell the backend agent to fix the flaky login test." / "What's running right now?" /
# "Queue an experiment with half the warmup.", 1.2 s apart.
#
# Needs espeak-ng and sox (soxi). Idempotent: every run rewrites the same files, and sox
# runs in repeatable mode (-R) so noise and dither come out the same each time.
# Usage: scripts/make_fixtures.sh   (from anywhere; paths are relative to the repo root)
set -euo pipefail

for tool in espeak-ng sox soxi; do
    command -v "$tool" >/dev/null || { echo "make_fixtures.sh: $tool is required" >&2; exit 1; }
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIX="$ROOT/tests/fixtures"
DATA="$ROOT/voicedesk/data"
mkdir -p "$FIX" "$DATA"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

VOICE="en-us"
RATE=160
OUT_FMT=(-r 16000 -c 1 -b 16 -e signed-integer)

# speak NAME VOICE RATE SSML: render SSML to $WORK/NAME.wav, 16 kHz mono, edge silence trimmed.
speak() {
    local name="$1" voice="$2" rate="$3" ssml="$4"
    espeak-ng -v "$voice" -s "$rate" -m -w "$WORK/$name.raw.wav" "<speak>$ssml</speak>"
    sox -R "$WORK/$name.raw.wav" "${OUT_FMT[@]}" "$WORK/$name.wav" \
        silence 1 0.005 0.1% reverse silence 1 0.005 0.1% reverse
}

# silence NAME SECONDS: digital silence in the fixture format.
silence() {
    sox -R -n "${OUT_FMT[@]}" "$WORK/$1.wav" trim 0 "$2"
}

# pad PIECE OUT: the trimmed piece with 0.4 s of silence before and 0.7 s after.
pad() {
    sox -R "$WORK/$1.wav" "${OUT_FMT[@]}" "$2" pad 0.4 0.7
}

# --- single commands ---------------------------------------------------------------------
# Voices and rates were picked so that tiny.en hears each piece right both as a whole file
# and as the utterance our segmenter cuts, at several sub-frame offsets. espeak's "add a
# dark" comes out as "and a dark" and its "halves" as "has" in every voice tried, hence
# "please add" and "with half". The pieces the live tests play (multi_command, wake_word, yes,
# status_job, cancel_job, experiment, results) give the same intents at all 10 frame phases
# of scripts/fixture_phases.py, since live capture starts anywhere on the frame grid:
# "Backend, fix ..." and "Desk, ..." did not, hence "Tell the backend agent" and "Computer".
speak dispatch "$VOICE" "$RATE" \
    'Frontend,<break time="350ms"/> please add a dark mode toggle.'
speak status "$VOICE" "$RATE" 'What is the status of job twelve?'
speak cancel "$VOICE" "$RATE" 'Cancel job three.'
speak experiment "$VOICE+m1" 150 'Queue an experiment with half the warmup.'
speak results "$VOICE" "$RATE" 'Show me the leaderboard.'
speak backend "$VOICE" "$RATE" 'Tell the backend agent to fix the flaky login test.'

pad dispatch "$FIX/dispatch_frontend.wav"
pad status "$FIX/status_job.wav"
pad cancel "$FIX/cancel_job.wav"
pad experiment "$FIX/experiment.wav"
pad results "$FIX/results.wav"

sox -R "$FIX/dispatch_frontend.wav" -r 8000 -c 2 -b 16 -e signed-integer \
    "$FIX/dispatch_8k_stereo.wav"

# --- live-voice pieces: a yes, and the wake word ------------------------------------------------
speak yes "$VOICE" "$RATE" 'Yes,<break time="200ms"/> go ahead.'
pad yes "$FIX/yes.wav"
speak running "$VOICE" "$RATE" 'What is running?'
speak wake "$VOICE" "$RATE" 'Computer, show me the leaderboard.'
silence wake_lead 0.5
silence wake_gap 1.5
silence wake_tail 1.0
sox -R "$WORK/wake_lead.wav" "$WORK/running.wav" "$WORK/wake_gap.wav" "$WORK/wake.wav" \
    "$WORK/wake_tail.wav" "${OUT_FMT[@]}" "$FIX/wake_word.wav"

# --- the hands-free session: a shell job by voice, and the stand-up --------------------------
# "Infra, run the tests" came out "run the task" or "run the tasks" at 4 of 10 phases; this
# gives the same words at all 10.
speak infra "$VOICE" 150 'Infra, restart the server.'
pad infra "$FIX/infra_restart.wav"
speak missed "$VOICE" "$RATE" 'What did I miss?'
pad missed "$FIX/what_did_i_miss.wav"

# --- several commands in one stream, with the expected spans ------------------------------
silence lead 0.8
silence gap 1.5
silence tail 1.0
multi_pieces=(backend status experiment cancel)
multi_texts=(
    "Tell the backend agent to fix the flaky login test."
    "What is the status of job twelve?"
    "Queue an experiment with half the warmup."
    "Cancel job three."
)
parts=("$WORK/lead.wav")
tsv="$WORK/multi_command.tsv"
: >"$tsv"
t=0.8
for i in "${!multi_pieces[@]}"; do
    piece="$WORK/${multi_pieces[$i]}.wav"
    dur="$(soxi -D "$piece")"
    end="$(echo "$t + $dur" | bc -l)"
    printf '%.3f\t%.3f\t%s\n' "$t" "$end" "${multi_texts[$i]}" >>"$tsv"
    parts+=("$piece")
    if ((i < ${#multi_pieces[@]} - 1)); then
        parts+=("$WORK/gap.wav")
        t="$(echo "$end + 1.5" | bc -l)"
    fi
done
parts+=("$WORK/tail.wav")
sox -R "${parts[@]}" "${OUT_FMT[@]}" "$FIX/multi_command.wav"
cp "$tsv" "$FIX/multi_command.tsv"

# --- a small labelled set: the dev set's layout, for `python -m benchmarks accuracy` --------
# Built from the padded fixtures above (0.4 s of silence before each command, 0.7 s after),
# so the span of each command in stream.wav follows from the pieces' lengths.
LAB="$FIX/labelled"
mkdir -p "$LAB"
lab_rows=(
    "l01|dispatch_frontend|Frontend, please add a dark mode toggle.|dispatch|frontend||please add a dark mode toggle|espeak:en-us"
    "l02|status_job|What is the status of job twelve?|status||12||espeak:en-us"
    "l03|cancel_job|Cancel job three.|cancel||3||espeak:en-us"
    "l04|experiment|Queue an experiment with half the warmup.|experiment|||with half the warmup|espeak:en-us+m1"
    "l05|infra_restart|Infra, restart the server.|dispatch|infra||restart the server|espeak:en-us"
    "l06|what_did_i_miss|What did I miss?|standup||||espeak:en-us"
    "l07|results|Show me the leaderboard.|results||||espeak:en-us"
)
printf 'id\ttext\ttype\tagent\tjob\ttask\tfile\tvoice\trate\tsnr_db\tstart\tend\n' \
    >"$WORK/labels.tsv"
lab_parts=()
t=0
for row in "${lab_rows[@]}"; do
    IFS='|' read -r id name text type agent job task voice <<<"$row"
    wav="$FIX/$name.wav"
    dur="$(soxi -D "$wav")"
    start="$(echo "$t + 0.4" | bc -l)"
    end="$(echo "$t + $dur - 0.7" | bc -l)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t../%s.wav\t%s\t\t\t%.3f\t%.3f\n' "$id" "$text" "$type" \
        "$agent" "$job" "$task" "$name" "$voice" "$start" "$end" >>"$WORK/labels.tsv"
    lab_parts+=("$wav")
    t="$(echo "$t + $dur" | bc -l)"
done
sox -R "${lab_parts[@]}" "${OUT_FMT[@]}" "$LAB/stream.wav"
cp "$WORK/labels.tsv" "$LAB/labels.tsv"
cat >"$LAB/agents.toml" <<'TOML'
# The agents the labelled set addresses (the same as the default config's): pass as --config.
[agents.frontend]
kind = "coding"
aliases = ["web", "ui"]

[agents.backend]
kind = "coding"
aliases = ["api", "server"]

[agents.infra]
kind = "shell"
aliases = ["ops"]

[agents.research]
kind = "research"
aliases = ["researcher"]
TOML

# --- no speech ------------------------------------------------------------------------------
sox -R -n "${OUT_FMT[@]}" "$FIX/silence.wav" trim 0 2
sox -R -n "${OUT_FMT[@]}" "$FIX/noise.wav" synth 2 pinknoise vol 0.02

# --- broken files ---------------------------------------------------------------------------
# A 44-byte canonical header: PCM, mono, 16000 Hz, 32000 B/s, align 2, 16 bit, data size 0.
printf 'RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00'\
'\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00' >"$FIX/empty.wav"
size="$(wc -c <"$FIX/dispatch_frontend.wav")"
head -c "$((size / 2))" "$FIX/dispatch_frontend.wav" >"$FIX/truncated.wav"
printf 'This is a text file, not audio.\nvoicedesk must refuse it with one clear line.\n' \
    >"$FIX/not_audio.wav"

# --- the demo sample --------------------------------------------------------------------------
speak demo_backend "$VOICE" "$RATE" 'Tell the backend agent to fix the flaky login test.'
speak demo_running "$VOICE" "$RATE" "What's running right now?"
silence demo_lead 0.5
silence demo_gap 1.2
silence demo_tail 0.8
sox -R "$WORK/demo_lead.wav" "$WORK/dispatch.wav" "$WORK/demo_gap.wav" \
    "$WORK/demo_backend.wav" "$WORK/demo_gap.wav" "$WORK/demo_running.wav" \
    "$WORK/demo_gap.wav" "$WORK/experiment.wav" "$WORK/demo_tail.wav" \
    "${OUT_FMT[@]}" "$DATA/sample_commands.wav"

echo "make_fixtures.sh: wrote fixtures to $FIX and $DATA/sample_commands.wav"
