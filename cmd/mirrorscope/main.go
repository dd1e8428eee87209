// Command mirrorscope is the target and analyst of AWS VPC Traffic
// Mirroring: it decodes mirrored (VXLAN/GENEVE) and plain traffic, follows
// every flow, analyses TCP as Wireshark does and names what limits each
// flow. Run `mirrorscope --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

// exitError carries an exit status with the error shown to the user.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit statuses: 2 for bad input or usage, 1 for analysis errors.
const (
	exitAnalysis = 1
	exitUsage    = 2
)

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "mirrorscope: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitAnalysis
}
