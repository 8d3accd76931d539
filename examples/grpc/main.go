// Command grpc is a gRPC server (its one method says the pid that served
// it) that upgrades in place on SIGHUP, failing no RPC, stops on SIGTERM,
// and speaks systemd: examples/upgrade with gRPC in place of net/http.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/upgrade"
)

// PidMethod is the full name of the one method: it takes an Empty and
// answers a StringValue "pid=<process id>". Hand-written, so that no
// protoc is needed; the messages are protobuf's own.
const PidMethod = "/acceptgate.example.Upgrade/Pid"

var pidService = grpc.ServiceDesc{
	ServiceName: "acceptgate.example.Upgrade",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Pid", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		if err := dec(new(emptypb.Empty)); err != nil {
			return nil, err
		}
		return wrapperspb.String(fmt.Sprintf("pid=%d", os.Getpid())), nil
	}}},
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "address to serve gRPC on")
	flag.Parse()
	// Caught from the start: a reload may be asked as soon as systemd
	// hears READY=1, and SIGHUP's default action ends the process.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	upg, err := upgrade.New(upgrade.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer upg.Stop()
	gate, err := upg.Listen(context.Background(), "tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	srv.RegisterService(&pidService, nil)
	ln := &startedListener{Listener: gate}
	go srv.Serve(ln)
	if err := upg.Ready(); err != nil {
		log.Fatal(err) // the previous generation serves on
	}
	log.Printf("pid=%d serving grpc://%s", os.Getpid(), gate.Addr())

	go func() {
		for sig := range signals {
			if sig != syscall.SIGHUP {
				upg.Stop()
				return
			}
			go func() {
				if err := upg.Upgrade(); err != nil {
					log.Print(err) // this generation serves on
				}
			}()
		}
	}()
	<-upg.Exit()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gracefulStop(ctx, srv, gate, ln)
}

// gracefulStop stops srv, served on gate through ln, failing no RPC of a
// client whose connect succeeded: gate rejects new clients (after a
// handover it is closed already: the next generation takes them), srv
// accepts those the kernel admitted before, and only then GracefulStop
// tells every connection to go away (GOAWAY, which clients retry on
// elsewhere) and waits for its calls. At ctx's end, Stop cuts what is
// left.
func gracefulStop(ctx context.Context, srv *grpc.Server, gate *acceptgate.Listener, ln *startedListener) {
	if err := gate.Reject(); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Print(err) // it accepts on; GracefulStop closes it
	}
	// Every client admitted is accepted, and its connection has reached
	// srv's handshake: GracefulStop closes unanswered one it finds before.
	for ctx.Err() == nil {
		if st := gate.Stats(); st.Pending == 0 && st.Queued <= 0 && ln.started.Load() == st.Accepted {
			break
		}
		time.Sleep(time.Millisecond) // the kernel says nothing when its queue empties
	}
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		srv.Stop()
		<-stopped
	}
}

// startedListener counts the connections that srv began to serve.
// grpc.Server hands each accepted connection to a goroutine that closes it
// unanswered if GracefulStop began before it ran; it sets the connection's
// handshake deadline once it did not, so the first SetDeadline (or a Close)
// says the connection is past that check.
type startedListener struct {
	net.Listener
	started atomic.Uint64 // connections past srv's check, or closed
}

func (l *startedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &startedConn{Conn: c, l: l}, nil
}

type startedConn struct {
	net.Conn
	l    *startedListener
	once atomic.Bool // started was counted for this connection
}

func (c *startedConn) mark() {
	if c.once.CompareAndSwap(false, true) {
		c.l.started.Add(1)
	}
}

func (c *startedConn) SetDeadline(t time.Time) error {
	c.mark()
	return c.Conn.SetDeadline(t)
}

func (c *startedConn) Close() error {
	c.mark()
	return c.Conn.Close()
}
