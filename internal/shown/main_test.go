package shown

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines with goleak: the package's tests
// are internal, and grpctest, which imports it, cannot be imported here.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
