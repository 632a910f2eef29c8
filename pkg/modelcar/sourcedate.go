package modelcar

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// SourceDate picks the image's one timestamp, as reproducible-builds.org
// defines it: epoch (Unix seconds) when given, else $SOURCE_DATE_EPOCH,
// else the time of the model directory's last git commit, else the Unix
// epoch — never the clock, which would make every build different. what
// names the explicit value in errors (e.g. a flag or a param).
func SourceDate(modelDir, what, epoch string) (time.Time, error) {
	for _, src := range []struct{ what, value string }{{what, epoch}, {"SOURCE_DATE_EPOCH", os.Getenv("SOURCE_DATE_EPOCH")}} {
		if src.value == "" {
			continue
		}
		secs, err := strconv.ParseInt(src.value, 10, 64)
		if err != nil || secs < 0 {
			return time.Time{}, fmt.Errorf("%s %q: want Unix seconds", src.what, short(src.value))
		}
		return time.Unix(secs, 0).UTC(), nil
	}
	out, err := exec.Command("git", "-C", modelDir, "log", "-1", "--format=%ct").Output()
	if secs, perr := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && perr == nil {
		return time.Unix(secs, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
