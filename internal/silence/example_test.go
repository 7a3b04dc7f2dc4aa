package silence_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/vigia-dev/vigia/internal/silence"
)

func ExampleSilencer() {
	dir, _ := os.MkdirTemp("", "silences")
	defer os.RemoveAll(dir)
	store, _ := silence.OpenFile(dir, silence.FileOptions{})
	s := silence.New(store, silence.Options{})
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	defer s.Close()

	ms, _ := silence.ParseMatchers(`rule="k8s-pod-exec-attach"`, `namespace=~"dev|qa"`)
	created, err := s.Create(ctx, &silence.Silence{Matchers: ms, EndsAt: time.Now().Add(2 * time.Hour), CreatedBy: "ana", Comment: "maintenance window"})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	fmt.Println(len(s.Muted(map[string]string{"rule": "k8s-pod-exec-attach", "namespace": "qa"}, now)) == 1)
	fmt.Println(len(s.Muted(map[string]string{"rule": "k8s-pod-exec-attach", "namespace": "prod"}, now)) == 1)

	_, err = s.Create(ctx, &silence.Silence{Matchers: ms, EndsAt: time.Now().Add(time.Hour)})
	fmt.Println(err)

	s.Expire(ctx, created.ID)
	fmt.Println(s.Muted(map[string]string{"rule": "k8s-pod-exec-attach", "namespace": "qa"}, time.Now()))
	// Output:
	// true
	// false
	// invalid silence: created_by: the author is required
	// comment: the reason is required
	// []
}
