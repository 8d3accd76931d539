package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/acceptgate/acceptgate/control"
)

const ctlUsage = `Usage: acceptgate ctl [flags] status|pause|reject|resume [NAME]
       acceptgate ctl [flags] drain [--grace 30s] [--wait 1m]

status shows the serving process and every gate, or NAME; pause, reject
and resume change NAME, or every gate when NAME is left out. drain takes
the instance out of a fleet: /readyz fails at once, the gates stay as
they are for --grace (an accepting gate keeps accepting, a paused or
rejecting one stays so), then reject; it prints what it does to each
gate. With --wait it returns once the connections are done (non-zero if
they are not within --wait). A second drain may bring the deadline
forward, never back. Exits non-zero with the server's error when it
refuses, and says what to check when no admin API answers.`

func runCtl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ctl", ctlUsage, stderr)
	admin := fs.String("admin", "127.0.0.1:9090", "admin API: `URL`, host:port or unix socket path")
	tokenFile := fs.String("token-file", "", "`file` holding the bearer token, mode 0600 (default $ACCEPTGATE_TOKEN_FILE, else the token in $ACCEPTGATE_TOKEN)")
	caFile := fs.String("cacert", "", "PEM `file` of certificates to trust for an https:// admin URL, besides the system's")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	grace := fs.Duration("grace", 30*time.Second, "drain: how long the gates keep accepting after readiness fails")
	wait := fs.Duration("wait", 0, "drain: wait up to this long for the drain to be done; 0 returns at once")
	if err := refuseTokenFlag(args); err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return fmt.Errorf("ctl: want an action and at most one name")
	}
	action, name := pos[0], ""
	if len(pos) == 2 {
		name = pos[1]
	}
	token, err := adminToken(*tokenFile)
	if err != nil {
		return err
	}
	opts := []control.ClientOption{control.WithReason("acceptgate ctl")}
	if cfg, err := clientTLS(*caFile); err != nil {
		return err
	} else if cfg != nil {
		opts = append(opts, control.WithClientTLS(cfg))
	}
	c, err := control.NewClient(*admin, token, opts...)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	err = ctlAction(ctx, c, action, name, *grace, *wait, *asJSON, stdout)
	return explainCtlError(err, *admin)
}

// ctlAction does what ctl was asked for through c.
func ctlAction(ctx context.Context, c *control.Client, action, name string, grace, wait time.Duration, asJSON bool, stdout io.Writer) error {
	var err error
	var views []control.View
	switch action {
	case "status":
		if name == "" {
			views, err = c.List(ctx)
		} else {
			var v control.View
			v, err = c.Get(ctx, name)
			views = []control.View{v}
		}
	case "pause", "reject", "resume":
		views, err = c.Change(ctx, action, name)
	case "drain":
		if name != "" {
			return fmt.Errorf("ctl: drain takes no name: it drains the whole instance")
		}
		return ctlDrain(ctx, c, grace, wait, asJSON, stdout)
	default:
		return fmt.Errorf("ctl: unknown action %q (want status, pause, reject, resume or drain)", action)
	}
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, views)
	}
	if len(views) > 0 && action == "status" {
		v := views[0]
		fmt.Fprintf(stdout, "process %d, started %s (up %s)\n", v.PID, v.ProcessStarted.Format(time.RFC3339), time.Since(v.ProcessStarted).Round(time.Second))
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDR\tSTATE\tSINCE\tACCEPTED\tABORTED\tACTIVE\tQUEUED\tBACKLOG")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", v.Name, v.Addr, v.State,
			time.Since(v.Since).Round(time.Second), v.Accepted, v.Aborted, v.Active, known(v.Queued), known(v.Backlog))
	}
	return tw.Flush()
}

// explainCtlError adds to an error of the admin API what an operator
// should check: Go's dial error alone names neither serve nor --admin, and
// a refusal names the rule, not the setting that satisfies it.
func explainCtlError(err error, admin string) error {
	if err == nil {
		return nil
	}
	var ae *control.APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusUnauthorized:
			return fmt.Errorf("%w\ncheck the token: ctl sends the one in --token-file (else $ACCEPTGATE_TOKEN_FILE, else $ACCEPTGATE_TOKEN), which must be the server's", err)
		case http.StatusForbidden:
			return fmt.Errorf("%w\ncheck the token and where ctl runs: without a token the API answers only clients on its own host's loopback, and never a cross-origin browser request; give ctl the server's token with --token-file", err)
		case http.StatusMisdirectedRequest:
			return fmt.Errorf("%w\ncheck the Host in --admin: without a token the API answers only a loopback address, localhost or a name it allows (serve's --admin-host); use one of those, or give ctl the server's token", err)
		}
		return err
	}
	if unreachable(err) {
		return fmt.Errorf("ctl: no admin API answers at %s: is \"acceptgate serve\" (or your server) running, with its admin API on that address? serve prints it (\"admin API on ...\"); point ctl at it with --admin: %w", admin, err)
	}
	return err
}

// unreachable tells whether err means nothing answered: a refused or timed
// out connection, a socket path with nothing bound, a name that does not
// resolve.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	var ne net.Error
	return errors.As(err, &op) && op.Op == "dial" ||
		errors.As(err, &dns) ||
		errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, context.DeadlineExceeded)
}

// known formats a figure the server reports as -1 where the kernel cannot
// tell (a queue length on a platform without one).
func known(n int) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// ctlDrain asks for a drain and, with wait, polls until it is done.
func ctlDrain(ctx context.Context, c *control.Client, grace, wait time.Duration, asJSON bool, stdout io.Writer) error {
	st, err := c.Drain(ctx, grace)
	if err != nil {
		return err
	}
	if !asJSON {
		// What a drain does depends on the state each gate is in; an
		// operator who drains a rejecting gate should not expect it to
		// accept during the grace. Without the list the drain still stands.
		if views, err := c.List(ctx); err == nil {
			printDrainGates(stdout, st, views)
		}
	}
	if wait > 0 {
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for !st.Done {
			select {
			case <-ctx.Done():
				printDrain(stdout, st, asJSON)
				return fmt.Errorf("ctl: drain not done within --wait %s", wait)
			case <-tick.C:
			}
			if st, err = c.DrainStatus(ctx); err != nil {
				if ctx.Err() != nil { // --wait ran out during the request
					printDrain(stdout, st, asJSON)
					return fmt.Errorf("ctl: drain not done within --wait %s", wait)
				}
				return err
			}
		}
	}
	return printDrain(stdout, st, asJSON)
}

// printDrainGates says, for each gate, what the drain does to it, as
// control.Handler.Drain does: nothing until the deadline, then Reject,
// which delivers what the kernel had admitted, and only once.
func printDrainGates(w io.Writer, st control.DrainStatus, views []control.View) {
	for _, v := range views {
		var does string
		switch {
		case st.Rejected && v.State == "rejecting":
			does = "the drain rejected it at the deadline; its connections finish"
		case st.Rejected:
			does = "changed since the drain's deadline: the drain leaves it " + v.State
		case v.State == "accepting":
			does = "drain keeps it accepting and serving until the deadline, then rejects; its connections finish"
		case v.State == "paused":
			does = "drain leaves it paused until the deadline (its clients wait in the accept queue), then rejects and serves the clients waiting"
		case v.State == "rejecting":
			does = "drain leaves it rejecting: it refuses new clients during the grace too, and its connections finish"
		default:
			does = "drain leaves it " + v.State
		}
		fmt.Fprintf(w, "%s: %s; %s\n", v.Name, v.State, does)
	}
}

func printDrain(w io.Writer, st control.DrainStatus, asJSON bool) error {
	if asJSON {
		return writeJSON(w, st)
	}
	phase := "accepting until the deadline"
	switch {
	case st.Done:
		phase = "done"
	case st.Rejected:
		phase = "rejecting, connections finishing"
	}
	_, err := fmt.Fprintf(w, "draining: %s; deadline %s; active %d, pending %d, queued %d\n",
		phase, st.Deadline.Format(time.RFC3339), st.Active, st.Pending, st.Queued)
	return err
}
