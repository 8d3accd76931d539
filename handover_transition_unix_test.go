//go:build unix

package acceptgate_test

import (
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// While a gate's socket is being handed over, a transition to the state it
// is in, and stays in when the handoff ends, does nothing and returns nil,
// as it does at any other time. Any other transition changes nothing and
// fails with an error that wraps ErrHandoffInProgress: that of an accepting
// gate, held paused meanwhile, too.
func TestTransitionsWhileHandingOver(t *testing.T) {
	transitions := []struct {
		name string
		to   acceptgate.State
		call func(*acceptgate.Listener) error
	}{
		{name: "Pause", to: acceptgate.Paused, call: (*acceptgate.Listener).Pause},
		{name: "Reject", to: acceptgate.Rejecting, call: (*acceptgate.Listener).Reject},
		{name: "Resume", to: acceptgate.Accepting, call: (*acceptgate.Listener).Resume},
	}
	for _, nw := range loopbackNetworks(t) {
		for _, from := range []acceptgate.State{acceptgate.Accepting, acceptgate.Paused, acceptgate.Rejecting} {
			t.Run(nw.name+"/"+from.String(), func(t *testing.T) {
				l := listen(t, nw.name, nw.address(t))
				switch from {
				case acceptgate.Paused:
					require.NoError(t, l.Pause())
				case acceptgate.Rejecting:
					require.NoError(t, l.Reject())
				}
				_, files, err := side(l).Prepare()
				require.NoError(t, err)
				for _, f := range files {
					f.Close()
				}
				held := l.State() // an accepting gate is held paused
				for _, tr := range transitions {
					err := tr.call(l)
					if tr.to == from && tr.to == held {
						assert.NoError(t, err, "%s of a %s gate", tr.name, from)
					} else {
						assert.ErrorIs(t, err, acceptgate.ErrHandoffInProgress, tr.name)
						var oe *net.OpError
						assert.True(t, errors.As(err, &oe), "%s: %v is a *net.OpError", tr.name, err)
					}
					assert.Equal(t, held, l.State(), "after %s", tr.name)
				}
				side(l).Rollback()
				assert.Equal(t, from, l.State(), "the handoff rolled back")
				for _, tr := range transitions {
					assert.NoError(t, tr.call(l), "%s after the handoff", tr.name)
				}
			})
		}
	}
}
