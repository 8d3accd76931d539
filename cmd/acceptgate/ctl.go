package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/acceptgate/acceptgate/control"
)

const ctlUsage = `Usage: acceptgate ctl [flags] status|pause|reject|resume [NAME]

status shows every gate, or NAME; pause, reject and resume change NAME,
or every gate when NAME is left out. Exits non-zero with the server's
error when it refuses.`

func runCtl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ctl", ctlUsage, stderr)
	admin := fs.String("admin", "127.0.0.1:9090", "admin API: `URL`, host:port or unix socket path")
	tokenFile := fs.String("token-file", "", "`file` holding the bearer token, mode 0600 (default $ACCEPTGATE_TOKEN_FILE, else the token in $ACCEPTGATE_TOKEN)")
	caFile := fs.String("cacert", "", "PEM `file` of certificates to trust for an https:// admin URL, besides the system's")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
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
	default:
		return fmt.Errorf("ctl: unknown action %q (want status, pause, reject or resume)", action)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, views)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDR\tSTATE\tSINCE\tACCEPTED\tABORTED\tACTIVE\tQUEUED\tBACKLOG")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", v.Name, v.Addr, v.State,
			time.Since(v.Since).Round(time.Second), v.Accepted, v.Aborted, v.Active, known(v.Queued), known(v.Backlog))
	}
	return tw.Flush()
}

// known formats a figure the server reports as -1 where the kernel cannot
// tell (a queue length on a platform without one).
func known(n int) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}
