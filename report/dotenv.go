package report

import (
	"fmt"
	"io"

	"modelsync.dev/modelsync/diff"
)

// WriteDotenv writes the report's counts and the number of removals awaiting
// approval as KEY=value lines, for a CI job's script or its dotenv report.
func WriteDotenv(w io.Writer, p *diff.Plan) error {
	r := p.Report()
	_, err := fmt.Fprintf(w, "MODELSYNC_CREATE=%d\nMODELSYNC_UPDATE=%d\nMODELSYNC_DELETE=%d\nMODELSYNC_REMOVALS=%d\n", r.Create, r.Update, r.Delete, len(p.Removals()))
	return err
}
