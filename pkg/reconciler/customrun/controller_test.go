package customrun

import (
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The cache drops managedFields as "not given" (nil), never as an empty
// list: an update carrying an empty list would reset the server's.
func TestDropManagedFields(t *testing.T) {
	run := &v1beta1.CustomRun{ObjectMeta: metav1.ObjectMeta{Name: "r", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	got, err := dropManagedFields(run)
	if err != nil || got.(*v1beta1.CustomRun).ManagedFields != nil {
		t.Fatalf("dropManagedFields: %v, managedFields %#v", err, got.(*v1beta1.CustomRun).ManagedFields)
	}
	if got, err := dropManagedFields("not an object"); err != nil || got != "not an object" {
		t.Errorf("a non-object: %v %v", got, err)
	}
}
