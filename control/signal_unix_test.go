//go:build unix

package control_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

func TestSignalsPauseAndResume(t *testing.T) {
	gates := make([]*acceptgate.Listener, 2)
	for i := range gates {
		g, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer g.Close()
		gates[i] = g
	}
	stop, err := control.HandleSignals(gates)
	require.NoError(t, err)
	defer stop()

	for _, step := range []struct {
		sig  syscall.Signal
		want acceptgate.State
	}{
		{syscall.SIGTTOU, acceptgate.Paused},
		{syscall.SIGTTIN, acceptgate.Accepting},
	} {
		require.NoError(t, syscall.Kill(syscall.Getpid(), step.sig))
		for _, g := range gates {
			require.Eventually(t, func() bool { return g.State() == step.want }, 10*time.Second, time.Millisecond, "%v", step.sig)
		}
	}
	stop()
	stop() // a second stop is harmless
}
