package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/acceptgate/acceptgate/internal/bench"
	"github.com/acceptgate/acceptgate/internal/wire"
)

// wireFlags are the flags that move an experiment's clients a round trip
// away from its server: --rtt, --jitter and --loss.
type wireFlags struct {
	rtt, jitter time.Duration
	loss        lossValue
	fence       bool
}

func addWireFlags(fs *flag.FlagSet) *wireFlags {
	f := &wireFlags{}
	fs.DurationVar(&f.rtt, "rtt", 0, "run the clients this round trip away, across two network namespaces this process makes (needs root); 0: loopback")
	fs.DurationVar(&f.jitter, "jitter", 0, "with -rtt: add up to this much to each packet's delay, each way")
	fs.BoolVar(&f.fence, "fence", true, "with -rtt: give the server's namespace an interface that stays down, which Reject fences sockets with; false leaves it none, and Reject stops sockets instead")
	fs.Var(&f.loss, "loss", "with -rtt: drop this share of packets each way, as a percentage (1%) or a fraction (0.01)")
	return f
}

// lossValue is a packet loss given as "1%" or "0.01".
type lossValue float64

func (l *lossValue) String() string { return strconv.FormatFloat(float64(*l)*100, 'g', -1, 64) + "%" }

func (l *lossValue) Set(s string) error {
	v, err := wire.ParseLoss(s)
	if err != nil {
		return err
	}
	*l = lossValue(v)
	return nil
}

// open builds the wire the flags ask for, or returns a nil Net (loopback)
// if they ask for none. close takes the wire down.
func (f *wireFlags) open(stderr io.Writer) (n bench.Net, close func(), err error) {
	if f.rtt == 0 && f.jitter == 0 && f.loss == 0 {
		return nil, func() {}, nil
	}
	if f.rtt < 0 {
		return nil, nil, fmt.Errorf("-rtt %v: negative", f.rtt)
	}
	if f.rtt == 0 {
		return nil, nil, fmt.Errorf("-jitter and -loss need -rtt: they shape a wire, and no -rtt runs on loopback")
	}
	w, err := wire.New(wire.Config{Delay: f.rtt / 2, Jitter: f.jitter, Loss: float64(f.loss), Spare: f.fence})
	if err != nil {
		if wire.CannotBuild(err) {
			err = fmt.Errorf("-rtt needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and /dev/net/tun: %w", err)
		}
		return nil, nil, err
	}
	fmt.Fprintf(stderr, "clients at %s, server at %s: round trip %v, jitter %v, loss %v each way, an interface to fence with: %v\n",
		wire.ClientIP, wire.ServerIP, f.rtt, f.jitter, &f.loss, f.fence)
	return w, func() {
		s := w.Stats()
		w.Close()
		fmt.Fprintf(stderr, "wire: %d packets carried, %d lost, %d dropped by a full queue\n", s.Packets, s.Lost, s.Overflow)
	}, nil
}
