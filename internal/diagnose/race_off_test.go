//go:build !race

package diagnose

// raceEnabled: the tests run under the race detector (slower; the
// longest ones check less).
const raceEnabled = false
