package rpcstatus_test

import (
	"testing"

	"github.com/streamtest/streamtest/grpctest"
)

func TestMain(m *testing.M) { grpctest.VerifyTestMain(m) }
