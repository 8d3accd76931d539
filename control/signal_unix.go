//go:build unix

package control

import (
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/acceptgate/acceptgate"
)

// HandleSignals pauses gates on SIGTTOU and resumes them on SIGTTIN, the
// convention HAProxy follows, until stop is called. These are also the
// kernel's job-control signals: a background process that writes to (or
// reads from) its terminal with tostop set receives them, and while they are
// handled it pauses (or resumes) its gates instead of being stopped. Handle
// them in servers that run detached from a terminal. Each change is logged to the
// logger WithLogger gives (slog.Default() without it). stop returns once signals are no longer
// handled; it is safe to call more than once.
func HandleSignals(gates []*acceptgate.Listener, opts ...Option) (stop func(), err error) {
	logger := newSettings(opts).logger
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTTOU, syscall.SIGTTIN)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				apply(logger, sig, gates)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			wg.Wait()
		})
	}, nil
}

func apply(logger *slog.Logger, sig os.Signal, gates []*acceptgate.Listener) {
	verb, transition := "resume", (*acceptgate.Listener).Resume
	if sig == syscall.SIGTTOU {
		verb, transition = "pause", (*acceptgate.Listener).Pause
	}
	for _, g := range gates {
		if err := transition(g); err != nil {
			logger.Error("acceptgate: signal refused", "signal", sig.String(), "action", verb, "addr", g.Addr().String(), "err", err)
			continue
		}
		logger.Info("acceptgate: signal", "signal", sig.String(), "action", verb, "addr", g.Addr().String(), "state", g.State().String())
	}
}
