package recorder

// Tests that pin checks a mutation audit found unpinned: each fails when
// the check it names is broken.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
)

// pastDeadline is a context whose deadline has passed but whose timer has
// not fired yet: Err is still nil.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Second), true }

// A recorder-derived context past its deadline counts as ended even
// before its timer fires.
func TestContextErrSeesAPassedDeadline(t *testing.T) {
	w := &clientStream{ctx: pastDeadline{context.Background()}, parent: context.Background()}
	if err := w.contextErr(); err != context.DeadlineExceeded {
		t.Errorf("contextErr = %v, want context.DeadlineExceeded", err)
	}
}

// A call-id header with call id 0 is not one of this recorder's tags.
func TestCallIDZeroIsNotATag(t *testing.T) {
	r := New()
	ctx := metadata.AppendToOutgoingContext(context.Background(), CallIDHeader, fmt.Sprintf("%d.0", r.id))
	if id, ok := r.CallID(ctx); ok {
		t.Errorf("CallID = %d, true for a tag with call id 0; want false", id)
	}
}
