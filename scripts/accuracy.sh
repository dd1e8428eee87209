#!/usr/bin/env bash
# accuracy.sh - regenerate docs/accuracy.md from the generated sweep
# (testdata/gen/sweep/README.md): make the lab runs that are missing, run
# mirrorscope on every capture and one-direction view, score the flows.
#
#   scripts/accuracy.sh             tune set: make missing runs (root + LAB), analyse, report
#   scripts/accuracy.sh --no-lab    analyse the captures already in $CORPUS and report
#   scripts/accuracy.sh --rescore   only re-score the committed results (no lab, no captures)
#   scripts/accuracy.sh --heldout   also the held-out set heldout36 (make, analyse, copy its
#                                   manifest and truth into testdata/gen/sweep/, report).
#                                   Evaluate it once. The earlier held-out sets (heldout35, seed 11035, evaluated once;
#                                   heldout34, seed 11034, evaluated once, then two miss rows seen;
#                                   heldout33, seed 11033, evaluated once;
#                                   heldout32, seed 11032, evaluated once, then read;
#                                   heldout31, seed 11031, evaluated once;
#                                   heldout30, seed 11030, evaluated once;
#                                   heldout29, seed 11029, evaluated once;
#                                   heldout28, seed 11028, evaluated once;
#                                   heldout27, seed 11027, evaluated once;
#                                   heldout26, seed 11026, evaluated once;
#                                   heldout25, seed 11025, evaluated once;
#                                   heldout24, seed 11024, evaluated once;
#                                   heldout23, seed 11023, evaluated once;
#                                   heldout22, seed 11022, evaluated once;
#                                   heldout21, seed 11021, evaluated once;
#                                   heldout20, seed 11020, evaluated once;
#                                   heldout19, seed 11019, evaluated once;
#                                   heldout18, seed 11018, evaluated once;
#                                   heldout17, seed 11017, evaluated once;
#                                   heldout16, seed 11016, evaluated once;
#                                   heldout15, seed 11015, evaluated once;
#                                   heldout14, seed 11014, evaluated once;
#                                   heldout13, seed 11013, evaluated once;
#                                   heldout12, seed 11012, evaluated once;
#                                   heldout11, seed 11011, evaluated once;
#                                   heldout10, seed 11010, evaluated once;
#                                   heldout9, seed 11009, evaluated once; heldout8, seed 11008; heldout7, seed 11007; heldout6, seed 11006; heldout5,
#                                   seed 11005; heldout4, seed 11004; heldout3, seed 11003; heldout, seed 11002)
#                                   are spent; with their
#                                   manifests in testdata/gen/sweep they are analysed and
#                                   reported as such, like the tune set.
#
# MIRRORSCOPE_BIN=PATH scores that binary instead of building ./cmd/mirrorscope
# (MIRRORSCOPE_VERSION names it in the report).
# OUT=DIR writes the results to DIR/results and the report to DIR/accuracy.md
# instead (for trying a detector change without touching the committed files).
# CORPUS (default /work/corpus) holds the captures, outside git; LAB is the
# folder of mklab.sh (default ../shared/lab beside the repository).
# The regression sets (testdata/<scenario>) are scored separately:
# go test ./internal/diagnose -run TestAccuracy -update -> docs/accuracy-regression.md.
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LABRUNS=1 ANALYZE=1 HELDOUT=0
for a in "$@"; do
	case $a in
	--rescore) LABRUNS=0 ANALYZE=0 ;;
	--no-lab) LABRUNS=0 ;;
	--heldout) HELDOUT=1 ;;
	-h | --help) sed -n '2,/^set -E/{/^set -E/!p;}' "$0"; exit 0 ;;
	*) echo "accuracy.sh: unknown option $a (see --help)" >&2; exit 2 ;;
	esac
done
CORPUS=${CORPUS:-/work/corpus}
SWEEP=testdata/gen/sweep
RESULTS=$SWEEP/results REPORT=docs/accuracy.md TRUTHOUT=(-truth-out "$SWEEP/truth")
if [[ -n ${OUT:-} ]]; then
	mkdir -p "$OUT"
	RESULTS=$OUT/results REPORT=$OUT/accuracy.md TRUTHOUT=()
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
go build -o "$TMP/sweep" ./internal/accuracy/cmd/sweep
SETS=tune
for h in heldout36 heldout35 heldout34 heldout33 heldout32 heldout31 heldout30 heldout29 heldout28 heldout27 heldout26 heldout25 heldout24 heldout23 heldout22 heldout21 heldout20 heldout19 heldout18 heldout17 heldout16 heldout15 heldout14 heldout13 heldout12 heldout11 heldout10 heldout9 heldout8 heldout7 heldout6 heldout5 heldout4 heldout3 heldout; do
	if [[ -f $SWEEP/manifest-$h.json ]] || { [[ $h == heldout36 ]] && ((HELDOUT)); }; then SETS+=,$h; fi
done
if ((ANALYZE)); then
	BIN=${MIRRORSCOPE_BIN:-}
	if [[ -z $BIN ]]; then
		BIN=$TMP/mirrorscope
		go build -o "$BIN" ./cmd/mirrorscope
		VERSION="$(git rev-parse --short HEAD)"
		[[ -n $(git status --porcelain -- cmd internal go.mod) ]] && VERSION+=" + uncommitted changes"
	else
		VERSION=${MIRRORSCOPE_VERSION:-$BIN}
	fi
	for set in ${SETS//,/ }; do
		if ((LABRUNS)); then
			CORPUS=$CORPUS "$SWEEP/gen.sh" "$set"
		fi
		man=$SWEEP/manifest-$set.json
		if [[ $set != tune && ! -f $man ]]; then cp "$CORPUS/manifest-$set.json" "$man"; fi
		[[ -d $CORPUS/$set ]] || { echo "accuracy.sh: no captures in $CORPUS/$set (run testdata/gen/sweep/gen.sh $set, or use --rescore)" >&2; exit 2; }
		t0=$(date +%s)
		"$TMP/sweep" analyze -manifest "$man" -corpus "$CORPUS/$set" -bin "$BIN" \
			-out "$RESULTS" "${TRUTHOUT[@]}" -version "$VERSION"
		echo "accuracy.sh: analysed $set in $(( $(date +%s) - t0 )) s" >&2
	done
fi
"$TMP/sweep" report -sweep "$SWEEP" -results "$RESULTS" -sets "$SETS" -o "$REPORT"
echo "accuracy.sh: wrote $REPORT ($SETS)" >&2
