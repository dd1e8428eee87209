package report

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/mirrorscope/mirrorscope/internal/result"
)

// WriteJSON writes r as indented JSON followed by a newline.
func WriteJSON(w io.Writer, r *result.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}
