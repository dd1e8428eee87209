package accuracy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Sweep folder layout (testdata/gen/sweep):
//
//	manifest-SET.json     the sampled runs
//	truth/NAME.json       checked truth of each made run
//	results/NAME.tsv      mirrorscope's flows of each capture and view
//	results/SET.meta.json which mirrorscope made the results, and when

// SetTitles are the report headings of the sets.
var SetTitles = map[string]string{
	"tune":      "Tune set (the detectors may be tuned on it)",
	"heldout":   "Spent held-out set, seed 11002 (evaluated once at 11:10 UTC and its misses then read while tuning: no longer held out)",
	"heldout3":  "Spent held-out set, seed 11003 (evaluated once in the fourth session, then used for tuning: no longer held out)",
	"heldout4":  "Spent held-out set, seed 11004 (made at the start of the fifth session, evaluated once at its end, then used for tuning: no longer held out)",
	"heldout5":  "Spent held-out set, seed 11005 (made at the start of the sixth session before its tuning; evaluated once at 01:02 UTC with 8bd9f82: both 71.0%, data_only 53.1% + 23.3% insufficient, acks_only 55.0% + 21.4%; then its misses were read: no longer held out)",
	"heldout6":  "Spent held-out set, seed 11006 (made in the sixth session after heldout5 was spent; evaluated once at its end with c5ffc0f: both 85.0%, data_only 48.6% + 32.4% insufficient, acks_only 75.7% + 21.2%; then its misses were read in the seventh session: no longer held out)",
	"heldout7":  "Spent held-out set, seed 11007 (made at the start of the seventh session before its tuning; evaluated once at 03:56 UTC with 43903bf: both 79.0%, data_only 63.2% + 23.1% insufficient, acks_only 68.9% + 23.1%, where the sixth session's final build c5ffc0f had 82.6%, 68.0% + 21.9% and 68.9% + 23.1%; then its misses were read and one rule reverted: no longer held out)",
	"heldout8":  "Spent held-out set, seed 11008 (made at the end of the seventh session after its last detector change; evaluated once at the start of the eighth session with 7f7a9a4: both 73.5%, data_only 67.6% + 15.2% insufficient, acks_only 65.5% + 19.3%, where the sixth session's final build c5ffc0f had 74.4%, 64.3% + 17.9% and 69.9% + 21.4%; then its misses were read: no longer held out)",
	"heldout9":  "Spent held-out set, seed 11009 (made at the start of the eighth session before its tuning; evaluated once at its end, 06:22 UTC, with a9c2547: both 81.5%, data_only 65.4% + 22.7% insufficient, acks_only 60.1% + 34.3%, where the session's starting build 7f7a9a4 had 79.0%, 63.3% + 22.7% and 60.1% + 34.3%; then its misses were read in the ninth session: no longer held out)",
	"heldout10": "Spent held-out set, seed 11010 (made at the end of the eighth session after its last detector change; evaluated once at the start of the ninth session, before any change, with e59b9d1: both 85.0%, data_only 48.1% + 35.5% insufficient, acks_only 72.7% + 14.4%; its misses were read in the tenth session: no longer held out)",
	"heldout11": "Spent held-out set, seed 11011 (made at the start of the tenth session before its tuning, the ninth session's copy having been lost unseen with its machine; evaluated once at 20:56 UTC with 78ab3ed, after that session's last detector change: both 85.4%, data_only 66.0% + 26.2% insufficient, acks_only 75.9% + 13.6%, where the session's starting detectors e59b9d1 had 83.3%, 65.0% + 27.2% and 73.8% + 15.6%; its misses were read after that and one change (63c691d) came of them: no longer held out)",
	"heldout12": "Spent held-out set, seed 11012 (made in the tenth session after its last detector change; evaluated once at 21:31 UTC with 1348a7d: both 97.8%, data_only 73.0% + 19.3% insufficient, acks_only 78.7% + 9.3%, where the session's starting detectors e59b9d1 had 97.8%, 70.8% + 19.3% and 78.7% + 9.3%; its misses were read in the eleventh session and two one-direction rules (2869eef) were tuned on it and heldout9-11: no longer held out)",
	"heldout13": "Spent held-out set, seed 11013 (made at the start of the eleventh session before any change; evaluated once at 22:38 UTC with b907d13, after the session's one-direction rules (one more change, ffaec32, came later): both 87.1%, data_only 65.0% + 23.8% insufficient, acks_only 66.0% + 12.9%, where the session's starting detectors e71c596 had 87.1%, 61.6% + 26.9% and 66.0% + 12.9%; its misses were read in the twelfth session and the serialisation rule (7aaf571) was tuned on it and heldout9-14: no longer held out)",
	"heldout14": "Spent held-out set, seed 11014 (made in the eleventh session after its last detector change; evaluated once at 23:09 UTC with 6d9b158: both 88.0%, data_only 66.5% + 21.9% insufficient, acks_only 85.3% + 4.4%, where the session's starting detectors e71c596 had 88.4%, 62.2% + 26.3% and 83.7% + 6.0%; its misses were read in the twelfth session and the serialisation rule (7aaf571) was tuned on it and heldout9-13: no longer held out)",
	"heldout15": "Spent held-out set, seed 11015 (made at the start of the twelfth session before any change (two policer runs' debug lines, m001 and m011, were printed by mistake while it was half made); evaluated once at 01:10 UTC with 7aaf571: both 89.8%, data_only 73.9% + 19.0% insufficient, acks_only 73.4% + 13.0%, where the session's starting detectors 153b7a5 had 89.8%, 72.8% + 19.0% and 73.4% + 13.0%; its misses were read in the thirteenth session and the arrival curve (cd324d9) was tuned on it and heldout9-16: no longer held out)",
	"heldout16": "Spent held-out set, seed 11016 (made in the twelfth session at 01:12-01:33 UTC, after its first detector change (7aaf571) and before its last two (0e88d0f, 2e101da); evaluated once at 01:46 UTC with 2e101da: both 79.2%, data_only 66.0% + 24.4% insufficient, acks_only 63.7% + 19.1%, where the session's starting detectors 153b7a5 and 7aaf571 both had 79.2%, 66.0% + 23.1% and 63.7% + 19.1%; its misses were read in the thirteenth session and the arrival curve (cd324d9) was tuned on it and heldout9-15: no longer held out)",
	"heldout17": "Spent held-out set, seed 11017 (made at the start of the thirteenth session, 02:59-03:12 UTC, before any change; evaluated once at 03:47 UTC with cd324d9, the session's arrival-curve detectors: both 88.3%, data_only 62.9% + 31.6% insufficient, acks_only 67.0% + 20.3%, where the session's starting detectors cbf6202 had 88.7%, 62.9% + 31.6% and 67.0% + 20.3% (the arrival curve changed 5 of its flows: one BBR sender's right rate raised 33% too high, 4 wrong before and after). A slip: at 03:45, after the detectors were fixed and before this evaluation, a prototype loop over the corpus printed an emulated ACK-side fit for its 13 single-direction policer runs. Then its misses were read and one guard was tried on it and dropped: no longer held out)",
	"heldout18": "Spent held-out set, seed 11018 (made in the thirteenth session at 03:49-04:06 UTC, after cd324d9; evaluated once at 04:27 UTC with 8a14f1e (cd324d9's detectors, the arrival curve raising policers' rates): both 91.0%, data_only 73.1% + 14.9% insufficient, acks_only 87.5% + 9.2%, where the session's starting detectors cbf6202 had 94.3%, 73.1% + 14.9% and 87.5% + 9.2% (the arrival curve raised the rate of 6 reno flows through a 247 kB bucket at 3.5 Mbit/s from a right 3.7 to 5.4, at two points: 12 flows). On this the arrival curve was taken out of the verdicts (it stays a detector): the session's final verdicts are cbf6202's, whose 94.3% here was chosen after seeing the set. No longer held out)",
	"heldout19": "Spent held-out set, seed 11019 (made in the thirteenth session at 04:29-04:42 UTC, after the arrival curve was taken out of the verdicts, never shown to the detectors; evaluated once at 04:45 UTC with ed04a76, the session's final detectors, whose verdicts are its starting ones (cbf6202): both 96.7%, data_only 78.8% + 18.2% insufficient, acks_only 77.2% + 12.6%; its misses were read in the fourteenth session and the ACK-side handshake RTT rule was tuned on it and heldout13-18: no longer held out)",
	"heldout20": "Spent held-out set, seed 11020 (made at the start of the fourteenth session at 05:47-06:01 UTC, before any change, never shown to the detectors; evaluated once at 07:03 UTC with 13456d6, the session's final detectors: both 93.1%, data_only 74.9% + 18.4% insufficient, acks_only 81.6% + 5.4%, where the session's starting detectors b678843 had 93.1%, 74.9% + 18.4% and 78.2% + 6.0%. The 12 flows whose verdicts that change moved were printed after the evaluation and one of them (a sender at its host's limit) led to the session's last change, tuned on heldout14 and 16; its misses were read in the fifteenth session and two rules checked on it: no longer held out)",
	"heldout21": "Spent held-out set, seed 11021 (made in the fourteenth session at 07:10-07:25 UTC, after its first five detector changes and before its last one (the flat rate's pauses), never shown to the detectors; evaluated once at 12:20 UTC in the fifteenth session with 67aa32b, the fourteenth session's final detectors: both 90.5%, data_only 58.2% + 33.2% insufficient, acks_only 75.6% + 11.7%, where the fourteenth session's starting detectors b678843 had 90.5%, 58.2% + 33.2% and 74.8% + 12.6%; then its misses were read and the shared-bucket rule was made from two of its runs: no longer held out)",
	"heldout22": "Spent held-out set, seed 11022 (made at the start of the fifteenth session at 12:21-12:35 UTC, before any change, never shown to the detectors; evaluated once at 13:10 UTC with 4a08153, the session's detectors after its three changes: both 89.1%, data_only 69.6% + 15.5% insufficient, acks_only 73.1% + 14.3%, where the fourteenth session's final detectors 67aa32b had 89.1%, 68.5% + 16.6% and 73.1% + 14.3%; then its misses were read and the burst-capacity rule was made from one of its runs (and heldout14): no longer held out)",
	"heldout23": "Held-out set, seed 11023 (made in the fifteenth session at 13:12-13:27 UTC, after the evaluation of heldout22 and before the session's last detector change, never shown to the detectors; evaluated once at 13:29 UTC with 0a87a72, the session's final detectors (440f5f0, a review of them, gives identical output): both 90.8% + 3.9% insufficient, data_only 80.2% + 13.7%, acks_only 83.9% + 9.8%, where the fourteenth session's final detectors 67aa32b had 90.8%, 79.9% + 15.0% and 83.9% + 9.8%; its misses not read)",
	"heldout24": "Spent held-out set, seed 11024 (made in the fifteenth session at 13:44-13:59 UTC, after its last detector change, never shown to the detectors, while other analysis jobs ran on the same two cores; evaluated once at 13:59 UTC with 440f5f0, the session's final detectors: both 76.0%, data_only 56.9% + 36.4% insufficient, acks_only 58.1% + 31.9%, where the fourteenth session's final detectors 67aa32b had 76.0%, 53.4% + 39.9% and 58.1% + 31.9%; then its confusion matrix and misses were read, and two summaries that printed a rate of 0.0 Mbit/s were fixed (verdict rightness unchanged on heldout13-24): no longer held out)",
	"heldout25": "Spent held-out set, seed 11025 (made at the start of the sixteenth session at 14:43-14:56 UTC, before any change, with nothing else running, never shown to the detectors; evaluated once at 15:18 UTC with 1d16c7c, the session's detectors after its two changes: both 91.5% + 0.5% insufficient, data_only 66.7% + 17.2%, acks_only 81.0% + 10.3%, where the fifteenth session's final detectors 4e44c4d had 91.5%, 66.4% + 17.5% and 81.0% + 10.3%; then its misses were counted by class, and a few of them read: no longer held out)",
	"heldout26": "Held-out set, seed 11026 (made in the sixteenth session at 15:20-15:34 UTC, after its first two detector changes and the evaluation of heldout25 (before its third), with nothing else running, never shown to the detectors; evaluated once at 15:35 UTC with 1d16c7c, the same detectors as heldout25's evaluation: both 92.9%, data_only 68.9% + 20.8% insufficient, acks_only 71.7% + 17.7%, where the fifteenth session's final detectors 4e44c4d had 92.9%, 67.5% + 22.3% and 71.7% + 17.7%; its misses not read)",
	"heldout27": "Held-out set, seed 11027 (made in the sixteenth session at 15:56-16:10 UTC, after its last detector change, with nothing else running, never shown to the detectors; evaluated once at 16:11 UTC with 9710e77, the session's final detectors: both 81.8% + 0.6% insufficient, data_only 59.1% + 23.5%, acks_only 62.5% + 18.2%, where 1d16c7c (before the last change) had the same and the fifteenth session's final detectors 4e44c4d had 78.4%, 58.8% + 23.8% and 62.5% + 18.2%; its misses not read)",
	"heldout28": "Held-out set, seed 11028 (made at the start of the seventeenth session at 17:06-17:19 UTC, before any change, with nothing else running, never shown to the detectors; evaluated once at 17:58 UTC with 2a7d464, the session's final detectors: both 86.8% + 0.7% insufficient, data_only 67.3% + 20.6%, acks_only 74.7% + 18.1%, where the sixteenth session's final detectors f1cc065 had 86.8%, 66.5% + 21.4% and 74.7% + 18.1%; its misses not read)",
	"heldout29": "Held-out set, seed 11029 (made in the seventeenth session at 18:17-18:31 UTC, after its last detector change and the evaluation of heldout28, with nothing else running, never shown to the detectors; evaluated once at 18:32 UTC with 9cbc3c0, the session's final detectors: both 89.2% + 0% insufficient, data_only 69.4% + 13.5%, acks_only 83.2% + 4.0%, where the sixteenth session's final detectors f1cc065 had 89.2%, 68.4% + 14.5% and 83.2% + 4.0%, and 2a7d464 (heldout28's) 89.2%, 69.0% + 13.8%, 83.2% + 4.0%; its misses not read)",
	"heldout30": "Held-out set, seed 11030 (made at the end of the seventeenth session at 18:46-19:00 UTC, after its last detector change (9cbc3c0), with nothing else running, never shown to the detectors; evaluated once at 20:39 UTC in the eighteenth session with a3a30a6, its first detector change (the ACKs' queueing from each 200 ms window's least sample): both 92.3% + 3.5% insufficient, data_only 78.2% + 15.0%, acks_only 84.9% + 5.9%, where the seventeenth session's final detectors cc6d315 had 92.3%, 78.2% + 15.0% and 76.0% + 14.1%; its misses not read)",
	"heldout31": "Held-out set, seed 11031 (made in the eighteenth session at 21:17-21:31 UTC, after its last detector change (beaee99) and the evaluation of heldout30, with nothing else running, never shown to the detectors; evaluated once at 21:32 UTC with beaee99, the session's final detectors: both 84.8% + 0.0% insufficient, data_only 69.1% + 19.1%, acks_only 80.1% + 8.4%, where the seventeenth session's final detectors cc6d315 had 84.8%, 69.1% + 19.1% and 75.6% + 16.9%; its misses not read)",
	"heldout32": "Spent held-out set, seed 11032 (made at the end of the eighteenth session at 21:47-22:01 UTC, after its last detector change (664a78d), with nothing else running, never shown to the detectors; evaluated once at 23:39 UTC in the nineteenth session with 77a94de, its first detector change: both 78.3% + 0.0% insufficient, data_only 69.6% + 18.5%, acks_only 68.8% + 16.1%, where 16c2bf0 (the eighteenth session's last build) had 78.3%, 69.6% + 18.5% and 69.3% + 16.1%; then read: the two ACK-only views 77a94de lost, and the misses with both directions)",
	"heldout33": "Held-out set, seed 11033 (made in the nineteenth session at 23:53-00:06 UTC, after its last detector change (eb02bc5) and the evaluation of heldout32, with nothing else running, never shown to the detectors; evaluated once at 00:07 UTC with eb02bc5: both 88.6% + 2.0% insufficient, data_only 71.1% + 17.4%, acks_only 86.2% + 10.4%, where 16c2bf0 (the eighteenth session's last build) had 88.6%, 71.1% + 17.4% and 85.9% + 10.4%, and cc6d315 88.6%, 71.1% + 17.4% and 84.6% + 11.1%; its misses not read)",
	"heldout34": "Spent held-out set, seed 11034 (made at the end of the nineteenth session at 00:35-00:48 UTC, after its last detector change (8b0ecaa), with nothing else running, never shown to the detectors; evaluated once at 02:00 UTC in the twentieth session with 0076ed7, the nineteenth session's final build: both 79.8% + 0% insufficient, data_only 51.8% + 32.4%, acks_only 77.3% + 10.5%, where 16c2bf0 (the eighteenth session's last build) had 79.8%, 51.8% + 32.4% and 77.8% + 10.5%, and cc6d315 79.2%, 51.8% + 32.4% and 78.9% + 10.0%; then, in the twentieth session, two of its miss rows (ah004, ah036) were seen in a search of docs/accuracy.md while the sender-side shared shaper rate was being changed: no longer held out)",
	"heldout35": "Held-out set, seed 11035 (made in the twentieth session at 03:05-03:19 UTC, after its last detector change (e0d36ee), with nothing else running, never shown to the detectors; evaluated once with e0d36ee: both 91.3% + 0% insufficient, data_only 77.5% + 16.5%, acks_only 82.3% + 7.2%, where 0076ed7 (the nineteenth session's final build) had 91.3 %, 74.0 % + 16.8 %, 82.3 % + 7.2 %; its misses not read)",
	"heldout36": "Held-out set, seed 11036 (made at the end of the twentieth session at 03:34-03:47 UTC, after its last detector change (e0d36ee), with nothing else running, never shown to the detectors; not evaluated: evaluate it once, with the next detector change)",
}

// LoadSet reads set name from the sweep folder. evaluate false (or no
// results) leaves Evals empty and Evaluated false. A missing manifest is
// a set not made yet: no error.
func LoadSet(sweep, name string, evaluate bool) (*SetData, error) {
	return LoadSetFrom(sweep, filepath.Join(sweep, "truth"), filepath.Join(sweep, "results"), name, evaluate)
}

// LoadSetFrom is LoadSet with the truth and results folders given.
func LoadSetFrom(sweep, truthDir, resultsDir, name string, evaluate bool) (*SetData, error) {
	sd := &SetData{Name: name, Title: SetTitles[name]}
	if sd.Title == "" {
		sd.Title = name
	}
	var m Manifest
	if err := ReadJSON(filepath.Join(sweep, "manifest-"+name+".json"), &m); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return sd, nil
		}
		return nil, err
	}
	sd.Manifest = &m
	var results []FlowResult
	for _, s := range m.Runs {
		var rt RunTruth
		if err := ReadJSON(filepath.Join(truthDir, s.Name+".json"), &rt); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		sd.Truths = append(sd.Truths, &rt)
		if !evaluate || rt.Excluded != "" {
			continue
		}
		frs, err := ReadResultsFile(filepath.Join(resultsDir, s.Name+".tsv"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		results = append(results, frs...)
	}
	if evaluate && len(results) > 0 {
		sd.Evals = Score(name, sd.Truths, results)
		sd.Evaluated = true
	}
	return sd, nil
}

// ResultsNote says which mirrorscope made the results of each set.
func ResultsNote(resultsDir string) string {
	paths, _ := filepath.Glob(filepath.Join(resultsDir, "*.meta.json"))
	sort.Strings(paths)
	var parts []string
	for _, p := range paths {
		var m struct {
			Set         string `json:"set"`
			Runs        int    `json:"runs"`
			Mirrorscope string `json:"mirrorscope"`
			Analyzed    string `json:"analyzed_utc"`
		}
		if ReadJSON(p, &m) != nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %d runs analysed %s by mirrorscope %s", m.Set, m.Runs, m.Analyzed, m.Mirrorscope))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Results: " + strings.Join(parts, "; ") + "."
}
