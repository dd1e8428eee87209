package aws

import (
	"errors"
	"testing"
)

// FuzzParseError: any error body (EC2's, the other services', HTML from a
// proxy, garbage) gives an *APIError with a code, never a panic.
func FuzzParseError(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>no</Message></Error></Errors><RequestID>r</RequestID></Response>`))
	f.Add([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>`))
	f.Add([]byte(`<html><body>502 Bad Gateway</body></html>`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		err := parseError(EC2, "DescribeInstances", 400, data)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Code == "" {
			t.Fatalf("parseError(%q) = %v", data, err)
		}
		_ = ae.Error()
	})
}
