package central

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// A burst of runs in one namespace reads its Secret once, not once a
// run: reads in flight together share one GET.
func TestConcurrentReadsShareOneGet(t *testing.T) {
	kube := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: DefaultSecret},
		Data:       map[string][]byte{"endpoint": []byte("central.example.com:443"), "token": []byte("t")},
	})
	var gets atomic.Int32
	entered, release := make(chan struct{}, 100), make(chan struct{})
	kube.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		gets.Add(1)
		entered <- struct{}{}
		<-release
		return false, nil, nil
	})
	c := &Clients{Kube: kube}
	const n = 20
	errs := make([]error, n)
	var wg, started sync.WaitGroup
	for i := range n {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			_, errs[i] = c.client(context.Background(), "ml", DefaultSecret)
		}()
	}
	// The first GET is held until every read has started and had a
	// moment to reach it; only one of them need share it for the test to
	// tell, and without sharing all n GET.
	<-entered
	started.Wait()
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if g := gets.Load(); g >= n {
		t.Errorf("%d GETs for %d concurrent reads of one Secret", g, n)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("read %d: %v", i, err)
		}
	}
}
