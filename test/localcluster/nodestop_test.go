package localcluster

import "testing"

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/tmp/a\040b/c`); got != "/tmp/a b/c" {
		t.Errorf("unescapeMount = %q", got)
	}
	if got := unescapeMount(`/tmp/x\`); got != `/tmp/x\` {
		t.Errorf("unescapeMount of a trailing backslash = %q", got)
	}
}
