package capture

import (
	"testing"

	"go.uber.org/goleak"
)

// The listener and live sources start goroutines: none may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
