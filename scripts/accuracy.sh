#!/usr/bin/env bash
# accuracy.sh - regenerate docs/accuracy.md: diagnose every lab capture in
# testdata/ (tune and held-out eval sets) and write the confusion matrix
# and rate errors. Fails when a verdict or rate bound is missed.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
go test ./internal/diagnose -run '^TestAccuracy$' -count=1 -update "$@"
echo "wrote docs/accuracy.md" >&2
