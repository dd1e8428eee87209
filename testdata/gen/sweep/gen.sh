#!/usr/bin/env bash
# gen.sh SET [N] - make the sweep's lab runs for SET (tune or heldout).
#
# Samples the manifest from the set's seed (if testdata/gen/sweep/manifest-SET.json
# is not there yet), then makes every run not made yet with the namespace lab,
# one at a time, into $CORPUS/SET/NAME/ (default CORPUS=/work/corpus; the
# captures stay out of git). Needs root and the lab's tools (see the lab's
# README); LAB is the folder of mklab.sh (default: ../shared/lab beside the
# repository). Each run's checked truth goes to CORPUS/SET/NAME/NAME.summary.json;
# for the tune set it is also copied to testdata/gen/sweep/truth/ (the held-out
# truth is copied when the held-out set is evaluated: scripts/accuracy.sh --heldout).
#
#   testdata/gen/sweep/gen.sh tune        # 90 runs, seed 11001
#   testdata/gen/sweep/gen.sh heldout36   # 64 runs, seed 11036 (the next held-out set; made, not evaluated)
#   testdata/gen/sweep/gen.sh heldout35   # 64 runs, seed 11035 (evaluated once; its misses not read yet)
#   testdata/gen/sweep/gen.sh heldout34   # 64 runs, seed 11034 (spent: evaluated, then two miss rows seen)
#   testdata/gen/sweep/gen.sh heldout33   # 64 runs, seed 11033 (evaluated once; its misses not read yet)
#   testdata/gen/sweep/gen.sh heldout32   # 64 runs, seed 11032 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout31   # 64 runs, seed 11031 (evaluated once; its misses not read yet)
#   testdata/gen/sweep/gen.sh heldout30   # 64 runs, seed 11030 (evaluated once; its misses not read yet)
#   testdata/gen/sweep/gen.sh heldout29   # 64 runs, seed 11029 (evaluated once; its misses not read yet)
#   testdata/gen/sweep/gen.sh heldout28   # 64 runs, seed 11028 (evaluated once; its misses not read yet)
#   testdata/gen/sweep/gen.sh heldout27   # 64 runs, seed 11027 (evaluated once; its misses not read yet)
#   testdata/gen/sweep/gen.sh heldout26   # 64 runs, seed 11026 (evaluated once; its misses not read yet)
#   testdata/gen/sweep/gen.sh heldout25   # 64 runs, seed 11025 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout24   # 64 runs, seed 11024 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout23   # 64 runs, seed 11023 (evaluated once; its misses not read yet)
#   testdata/gen/sweep/gen.sh heldout22   # 64 runs, seed 11022 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout21   # 64 runs, seed 11021 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout20   # 64 runs, seed 11020 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout19   # 64 runs, seed 11019 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout18   # 64 runs, seed 11018 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout17   # 64 runs, seed 11017 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout16   # 64 runs, seed 11016 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout15   # 64 runs, seed 11015 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout14   # 64 runs, seed 11014 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout13   # 64 runs, seed 11013 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout12   # 64 runs, seed 11012 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout11   # 64 runs, seed 11011 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout10   # 64 runs, seed 11010 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout9    # 64 runs, seed 11009 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout8    # 64 runs, seed 11008 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout7    # 64 runs, seed 11007 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout6    # 64 runs, seed 11006 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout5    # 64 runs, seed 11005 (spent: evaluated, then its misses read)
#   testdata/gen/sweep/gen.sh heldout4    # 64 runs, seed 11004 (spent: evaluated, then tuned on)
#   testdata/gen/sweep/gen.sh heldout3    # 64 runs, seed 11003 (spent: evaluated, then tuned on)
#   testdata/gen/sweep/gen.sh heldout     # 64 runs, seed 11002 (spent: evaluated and looked at)
#   ONLY=t003_shaper,t010_shaper testdata/gen/sweep/gen.sh tune   # remake some runs (delete their folders first)
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
SET=${1:?usage: gen.sh tune|heldout [N]}
CORPUS=${CORPUS:-/work/corpus}
LAB=${LAB:-$ROOT/../shared/lab}
case $SET in
tune) SEED=11001 N=${2:-90} ;;
heldout) SEED=11002 N=${2:-64} ;;  # spent: evaluated and looked at
heldout3) SEED=11003 N=${2:-64} ;; # spent: evaluated, then tuned on
heldout4) SEED=11004 N=${2:-64} ;; # spent: evaluated, then tuned on
heldout5) SEED=11005 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout6) SEED=11006 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout7) SEED=11007 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout8) SEED=11008 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout9) SEED=11009 N=${2:-64} ;;  # spent: evaluated, then its misses read
heldout10) SEED=11010 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout11) SEED=11011 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout12) SEED=11012 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout13) SEED=11013 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout14) SEED=11014 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout15) SEED=11015 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout16) SEED=11016 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout17) SEED=11017 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout18) SEED=11018 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout19) SEED=11019 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout20) SEED=11020 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout21) SEED=11021 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout22) SEED=11022 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout23) SEED=11023 N=${2:-64} ;; # evaluated once, misses not read yet
heldout24) SEED=11024 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout25) SEED=11025 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout26) SEED=11026 N=${2:-64} ;; # evaluated once, misses not read yet
heldout27) SEED=11027 N=${2:-64} ;; # evaluated once, misses not read yet
heldout28) SEED=11028 N=${2:-64} ;; # evaluated once, misses not read yet
heldout29) SEED=11029 N=${2:-64} ;; # evaluated once, misses not read yet
heldout30) SEED=11030 N=${2:-64} ;; # evaluated once, misses not read yet
heldout31) SEED=11031 N=${2:-64} ;; # evaluated once, misses not read yet
heldout32) SEED=11032 N=${2:-64} ;; # spent: evaluated, then its misses read
heldout33) SEED=11033 N=${2:-64} ;; # evaluated once, misses not read yet
heldout34) SEED=11034 N=${2:-64} ;; # spent: evaluated, then two miss rows seen
heldout35) SEED=11035 N=${2:-64} ;; # evaluated once, misses not read yet
heldout36) SEED=11036 N=${2:-64} ;;
*) echo "gen.sh: SET must be tune, heldout36, heldout35, heldout34, heldout33, heldout32, heldout31, heldout30, heldout29, heldout28, heldout27, heldout26, heldout25, heldout24, heldout23, heldout22, heldout21, heldout20, heldout19, heldout18, heldout17, heldout16, heldout15, heldout14, heldout13, heldout12, heldout11, heldout10, heldout9, heldout8, heldout7, heldout6, heldout5, heldout4, heldout3 or heldout" >&2; exit 2 ;;
esac
[[ -x $LAB/mklab.sh ]] || { echo "gen.sh: no mklab.sh in LAB=$LAB (set LAB to the lab folder)" >&2; exit 2; }
SWEEP=$ROOT/testdata/gen/sweep
mkdir -p "$CORPUS"
# one lab run at a time on this machine, whoever starts gen.sh
exec 9>"$CORPUS/.gen.lock"
flock -n 9 || { echo "gen.sh: another gen.sh is making runs into $CORPUS (lock $CORPUS/.gen.lock)" >&2; exit 1; }
# the held-out manifest stays beside the captures until the set is evaluated
if [[ $SET == tune ]]; then MAN=$SWEEP/manifest-tune.json; else MAN=$CORPUS/manifest-$SET.json; fi
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
(cd "$ROOT" && go build -o "$BIN/sweep" ./internal/accuracy/cmd/sweep)
[[ -f $MAN ]] || "$BIN/sweep" plan -set "$SET" -seed "$SEED" -n "$N" -o "$MAN"
TRUTH=()
[[ $SET == tune ]] && TRUTH=(-truth-out "$SWEEP/truth")
t0=$(date +%s)
LAB=$LAB "$BIN/sweep" run -manifest "$MAN" -corpus "$CORPUS/$SET" ${ONLY:+-only "$ONLY"} "${TRUTH[@]}"
echo "gen.sh: $SET done in $(( $(date +%s) - t0 )) s" >&2
