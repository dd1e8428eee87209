//go:build !linux

package mirror

import (
	"context"
	"errors"
)

// Source is a software mirror source; it needs Linux (AF_PACKET).
type Source struct{}

// NewSource reports that the mirror source needs Linux.
func NewSource(SourceConfig) (*Source, error) {
	return nil, errors.New("mirror source: needs Linux (AF_PACKET and raw sockets)")
}

// Run is never reached: NewSource fails on this system.
func (s *Source) Run(context.Context) (SourceCounters, error) {
	return SourceCounters{}, errors.ErrUnsupported
}

// Close does nothing.
func (s *Source) Close() error { return nil }
